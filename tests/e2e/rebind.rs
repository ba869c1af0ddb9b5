//! `kernels rebind` on real notebooks: written by Python exactly as nbformat writes them
//! (nbformat itself when it is importable, else `json.dumps` with nbformat's writer settings),
//! then checked byte for byte: only `metadata.kernelspec` may differ.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::common::{run, Sandbox};
use crate::require_python;

/// Writes notebooks described as JSON (path -> notebook dict) in nbformat's on-disk format.
const WRITE_NOTEBOOKS: &str = r#"
import json, sys
spec = json.load(open(sys.argv[1], encoding="utf-8"))
try:
    import nbformat
    def dump(nb, f):
        nbformat.write(nbformat.from_dict(nb), f)
except ImportError:
    def dump(nb, f):
        # nbformat.v4.nbjson.JSONWriter + nbformat.write's trailing newline.
        f.write(json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False))
        f.write("\n")
for path, nb in spec.items():
    with open(path, "w", encoding="utf-8") as f:
        dump(nb, f)
"#;

/// Prints the notebook with its kernelspec replaced, re-serialised the nbformat way, so the
/// test can compare our byte-level splice with what nbformat would have written.
const REDUMP: &str = r#"
import json, sys
nb = json.load(open(sys.argv[1], encoding="utf-8"))
sys.stdout.buffer.write((json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False) + "\n").encode("utf-8"))
"#;

fn notebook(kernel: &str, display: &str, extra_cell_text: &str) -> serde_json::Value {
    serde_json::json!({
        "cells": [
            {
                "cell_type": "markdown",
                "id": "0a1b2c3d",
                "metadata": {},
                "source": ["# Überschrift — naïve café\n", "\"kernelspec\": {\"name\": \"python38-azureml\"}"]
            },
            {
                "cell_type": "code",
                "execution_count": 3,
                "id": "4e5f6a7b",
                "metadata": {"tags": ["parameters"], "collapsed": false},
                "outputs": [
                    {"name": "stdout", "output_type": "stream", "text": ["π ≈ 3.14159\n", extra_cell_text]},
                    {
                        "data": {
                            "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
                            "text/plain": ["<Figure size 640x480 with 1 Axes>"]
                        },
                        "execution_count": 3,
                        "metadata": {"needs_background": "light"},
                        "output_type": "execute_result"
                    }
                ],
                "source": ["import math\n", "print('π ≈', round(math.pi, 5))\n", "x = {\"metadata\": {\"kernelspec\": 1}}"]
            }
        ],
        "metadata": {
            "kernel_info": {"name": kernel},
            "kernelspec": {"display_name": display, "language": "python", "name": kernel},
            "language_info": {
                "codemirror_mode": {"name": "ipython", "version": 3},
                "file_extension": ".py",
                "mimetype": "text/x-python",
                "name": "python",
                "nbconvert_exporter": "python",
                "pygments_lexer": "ipython3",
                "version": "3.8.5"
            },
            "microsoft": {"host": {"AzureML": {"notebookHasBeenCompleted": true}}}
        },
        "nbformat": 4,
        "nbformat_minor": 5
    })
}

fn write_notebooks(sb: &Sandbox, python: &Path, notebooks: &[(PathBuf, serde_json::Value)]) {
    let mut spec = serde_json::Map::new();
    for (path, nb) in notebooks {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        spec.insert(path.display().to_string(), nb.clone());
    }
    let spec_file = sb.root().join("notebooks.json");
    std::fs::write(&spec_file, serde_json::to_string(&spec).unwrap()).unwrap();
    run(sb
        .command(python)
        .args(["-c", WRITE_NOTEBOOKS])
        .arg(&spec_file))
    .ok();
}

/// Splits a notebook's text into (before the kernelspec object, the object, after it).
fn split_kernelspec(text: &str) -> (&str, &str, &str) {
    let key = "\n  \"kernelspec\": ";
    let start = text.find(key).expect("kernelspec key") + key.len();
    let end = start + text[start..].find('}').expect("end of kernelspec") + 1;
    (&text[..start], &text[start..end], &text[end..])
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn install_new_kernel(sb: &Sandbox) {
    sb.write_spec(
        &sb.user_kernels(),
        "python310-sdkv2",
        r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3.10 - SDK v2", "language": "python"}"#,
    );
}

#[test]
fn rebind_changes_only_the_kernelspec_of_matching_notebooks() {
    let python = require_python!();
    let sb = Sandbox::new();
    install_new_kernel(&sb);
    let proj = sb.root().join("proj");
    let matching = proj.join("labs/01-intro.ipynb");
    let upper = proj.join("labs/02 data.ipynb");
    let other = proj.join("other.ipynb");
    let checkpoint = proj.join("labs/.ipynb_checkpoints/01-intro-checkpoint.ipynb");
    write_notebooks(
        &sb,
        &python,
        &[
            (
                matching.clone(),
                notebook("python38-azureml", "Python 3.8 - AzureML", "done\n"),
            ),
            (
                upper.clone(),
                notebook("Python38-AzureML", "Python 3.8 - AzureML", "ok\n"),
            ),
            (other.clone(), notebook("ir", "R", "")),
            (
                checkpoint.clone(),
                notebook("python38-azureml", "Python 3.8 - AzureML", ""),
            ),
        ],
    );
    let before: Vec<(PathBuf, String)> = [&matching, &upper, &other, &checkpoint]
        .iter()
        .map(|p| ((*p).clone(), std::fs::read_to_string(p).unwrap()))
        .collect();
    std::fs::set_permissions(
        &matching,
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();
    // Old enough that a rewrite would be visible in the mtime even on coarse clocks.
    let old = SystemTime::now() - Duration::from_secs(3600);
    for p in [&other, &checkpoint] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let other_mtime = mtime(&other);

    // --dry-run: reports both matches, changes nothing.
    let dry = sb.kernels(&[
        "rebind",
        proj.to_str().unwrap(),
        "--from",
        "python38-azureml",
        "--to",
        "python310-sdkv2",
        "--dry-run",
        "--json",
    ]);
    dry.ok();
    let doc = dry.json();
    assert_eq!(doc["changed"], 2, "{doc:#}");
    assert_eq!(
        doc["notebooks"].as_array().unwrap().len(),
        3,
        "checkpoints are skipped: {doc:#}"
    );
    for (path, text) in &before {
        assert_eq!(
            &std::fs::read_to_string(path).unwrap(),
            text,
            "dry run changed {path:?}"
        );
    }

    let out = sb.kernels(&[
        "rebind",
        proj.to_str().unwrap(),
        "--from",
        "python38-azureml",
        "--to",
        "python310-sdkv2",
    ]);
    out.ok();
    assert!(out.stdout.contains("01-intro.ipynb"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Rebound 2 of 3 notebooks"),
        "{}",
        out.stderr
    );

    for (path, old_text) in &before[..2] {
        let new_text = std::fs::read_to_string(path).unwrap();
        let (old_pre, old_ks, old_post) = split_kernelspec(old_text);
        let (new_pre, new_ks, new_post) = split_kernelspec(&new_text);
        assert_eq!(
            old_pre.as_bytes(),
            new_pre.as_bytes(),
            "bytes before kernelspec changed"
        );
        assert_eq!(
            old_post.as_bytes(),
            new_post.as_bytes(),
            "bytes after kernelspec changed"
        );
        assert_ne!(old_ks, new_ks);
        let ks: serde_json::Value = serde_json::from_str(new_ks).unwrap();
        assert_eq!(
            ks,
            serde_json::json!({"display_name": "Python 3.10 - SDK v2", "language": "python", "name": "python310-sdkv2"})
        );
        // The result is exactly what nbformat would write for the edited notebook.
        let redump = run(sb.command(&python).args(["-c", REDUMP]).arg(path));
        redump.ok();
        assert_eq!(
            redump.stdout, new_text,
            "{path:?} is not in nbformat's own layout"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&matching).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), before[2].1);
    assert_eq!(
        mtime(&other),
        other_mtime,
        "a notebook for another kernel was rewritten"
    );
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), before[3].1);
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(proj.join("labs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Idempotent: a second run changes nothing.
    let again = sb.kernels(&[
        "rebind",
        matching.to_str().unwrap(),
        "--from",
        "python38-azureml",
        "--to",
        "python310-sdkv2",
        "--json",
    ]);
    again.ok();
    let doc = again.json();
    assert_eq!(doc["changed"], 0);
    assert_eq!(doc["notebooks"][0]["status"], "already-bound");
}

#[test]
fn rebind_to_a_kernel_that_is_not_installed_needs_its_metadata() {
    let python = require_python!();
    let sb = Sandbox::new();
    install_new_kernel(&sb);
    let nb = sb.root().join("a.ipynb");
    write_notebooks(&sb, &python, &[(nb.clone(), notebook("old", "Old", ""))]);
    let before = std::fs::read(&nb).unwrap();

    let out = sb.kernels(&[
        "rebind",
        nb.to_str().unwrap(),
        "--from",
        "old",
        "--to",
        "python310-sdk",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no kernel named"), "{}", out.stderr);
    assert!(
        out.stderr.contains("python310-sdkv2"),
        "closest name hint: {}",
        out.stderr
    );
    assert_eq!(std::fs::read(&nb).unwrap(), before);

    let bad = sb.kernels(&[
        "rebind",
        nb.to_str().unwrap(),
        "--from",
        "old",
        "--to",
        "a/b",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    let out = sb.kernels(&[
        "rebind",
        nb.to_str().unwrap(),
        "--from",
        "OLD",
        "--to",
        "elsewhere",
        "--display-name",
        "Elsewhere",
        "--language",
        "python",
    ]);
    out.ok();
    let text = std::fs::read_to_string(&nb).unwrap();
    assert!(text.contains("\"name\": \"elsewhere\""), "{text}");
    assert!(text.contains("\"display_name\": \"Elsewhere\""), "{text}");
}

#[test]
fn a_broken_notebook_is_reported_and_the_others_are_still_rebound() {
    let python = require_python!();
    let sb = Sandbox::new();
    install_new_kernel(&sb);
    let dir = sb.root().join("nbs");
    let good = dir.join("good.ipynb");
    write_notebooks(&sb, &python, &[(good.clone(), notebook("old", "Old", ""))]);
    let broken = dir.join("broken.ipynb");
    std::fs::write(&broken, "{\"cells\": [}\n").unwrap();
    let missing = sb.root().join("nope.ipynb");

    let out = sb.kernels(&[
        "rebind",
        dir.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--from",
        "old",
        "--to",
        "python310-sdkv2",
        "--json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc = out.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["changed"], 1);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{doc:#}");
    assert!(
        out.stderr.contains("broken.ipynb is not valid JSON"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nope.ipynb does not exist"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "{\"cells\": [}\n"
    );
    assert!(std::fs::read_to_string(&good)
        .unwrap()
        .contains("python310-sdkv2"));
}
