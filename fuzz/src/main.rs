//! A small mutation fuzzer that needs only the stable toolchain.
//!
//! Each target takes bytes and either returns (fine) or panics / returns an `Err` describing a
//! broken invariant. The driver starts from a seed corpus, mutates inputs, keeps inputs that
//! reach a new "shape" of outcome (a cheap stand-in for coverage), and stops at the first
//! failure, saving the input.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use kernels_fuzz::TARGETS;

/// Byte strings worth splicing into JSON and shell text.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"null",
    b"true",
    b"\\u0000",
    b"\\ud800",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\"argv\"",
    b"\"env\"",
    b"\"metadata\"",
    b"\"display_name\"",
    b"\"interrupt_mode\"",
    b"\"kernels\"",
    b"\"envs\"",
    b"\"path\"",
    b"\"name\"",
    b"{connection_file}",
    b"{resource_dir}",
    b"{prefix}",
    b"$HOME",
    b"${PATH}",
    b"$$",
    b"~",
    b"../",
    b"/",
    b"\0",
    b"conda",
    b"run",
    b"-n",
    b"-p",
    b"bash",
    b"-c",
    b"source",
    b"activate",
    b"exec",
    b"&&",
    b";",
    b"'",
    b"$(",
    b"`",
    b"envkernel",
    b"pixi",
    b"--",
    b"nb_conda_kernels.runner",
    b"-m",
    b"python",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = [0u8, 0xff, b'"', b'\\', b'{', b'[', b'0', 0x80][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                out.drain(a..b);
            }
            4 if len > 0 => out.truncate(rng.below(len)),
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(out.len() + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 | 8 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(out.len() + 1);
                out.splice(at..at, tok.iter().copied());
            }
            _ => {
                let n = rng.below(64);
                out = (0..n).map(|_| rng.next() as u8).collect();
            }
        }
    }
    out.truncate(1 << 20);
    out
}

fn seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() && meta.len() < 1 << 20 {
                if let Ok(data) = std::fs::read(&p) {
                    out.push(data);
                }
            }
        }
    }
    // Built-in seeds, so the driver works without a corpus too.
    for s in [
        &br#"{"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3", "language": "python"}"#[..],
        br#"{"version": 1, "kernels": [{"name": "k", "required": true}], "envs": [{"path": "/e"}, {"name": "base"}]}"#,
        b"conda\0run\0-n\0env\0python\0-m\0ipykernel_launcher",
        b"bash\0-c\0source /c/bin/activate x && exec python -m ipykernel_launcher -f {connection_file}",
        b"python38-azureml",
    ] {
        out.push(s.to_vec());
    }
    out.sort();
    out.dedup();
    out
}

fn save(artifacts: &Path, target: &str, input: &[u8]) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    let _ = std::fs::create_dir_all(artifacts);
    let path = artifacts.join(format!("{target}-{h:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

fn main() {
    let mut seconds = 10.0f64;
    let mut corpus_dirs = Vec::new();
    let mut artifacts = PathBuf::from("fuzz/artifacts");
    let mut seed: Option<u64> = None;
    let mut wanted: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            "--corpus" => corpus_dirs.extend(args.next().map(PathBuf::from)),
            "--artifacts" => artifacts = args.next().map(PathBuf::from).unwrap_or(artifacts),
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()),
            "--replay" => {
                let path = args.next().unwrap_or_default();
                let target = args.next().unwrap_or_default();
                std::process::exit(replay(&path, &target));
            }
            other => wanted.push(other.to_string()),
        }
    }
    let corpus = seeds(&corpus_dirs);
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    });
    // Panics are caught and reported as failures; keep the default hook quiet.
    panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, target) in TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let mut rng = Rng(seed ^ fxhash(name));
        let mut pool: Vec<Vec<u8>> = corpus.clone();
        let mut shapes: HashSet<String> = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let mut runs: u64 = 0;
        let mut failure: Option<(Vec<u8>, String)> = None;
        // Seeds first, unmutated.
        let mut queue: Vec<Vec<u8>> = corpus.clone();
        while Instant::now() < deadline {
            let input = match queue.pop() {
                Some(i) => i,
                None => {
                    let base = &pool[rng.below(pool.len())];
                    mutate(&mut rng, base, &corpus)
                }
            };
            runs += 1;
            match panic::catch_unwind(AssertUnwindSafe(|| target(&input))) {
                Ok(Ok(shape)) => {
                    if shapes.insert(shape) && pool.len() < 20_000 {
                        pool.push(input);
                    }
                }
                Ok(Err(why)) => {
                    failure = Some((input, why));
                    break;
                }
                Err(payload) => {
                    let why = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".to_string());
                    failure = Some((input, format!("panicked: {why}")));
                    break;
                }
            }
        }
        match failure {
            None => println!(
                "fuzz {name}: {runs} inputs, {} shapes, 0 failures ({seconds} s, seed {seed})",
                shapes.len()
            ),
            Some((input, why)) => {
                failed = true;
                let path = save(&artifacts, name, &input);
                println!(
                    "fuzz {name}: FAILED after {runs} inputs (seed {seed}): {why}\n  input saved to {} \
                     (replay: kernels-fuzz --replay {} {name})",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    std::process::exit(i32::from(failed));
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95)
    })
}

fn replay(path: &str, target: &str) -> i32 {
    let Ok(input) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        return 2;
    };
    let Some((_, f)) = TARGETS.iter().find(|(n, _)| *n == target) else {
        eprintln!("no target {target}");
        return 2;
    };
    match f(&input) {
        Ok(shape) => {
            println!("ok: {shape}");
            0
        }
        Err(why) => {
            println!("FAILED: {why}");
            1
        }
    }
}
