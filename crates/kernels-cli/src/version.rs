//! What `kernels --version` prints: the version on the first line (`kernels 0.1.0`, the same
//! as `kernels -V`, so scripts can parse it), then the build, so that a bug report carries it:
//!
//! ```text
//! kernels 0.1.0
//! commit: 73876d4a1b2c (2026-11-29)
//! target: x86_64-unknown-linux-gnu
//! glibc: 2.17 or newer
//! backends: conda, mamba, micromamba, venv, rattler
//! ```
//!
//! The commit and target are recorded by the build script (`crates/kernels-cli/build.rs`). The
//! glibc floor — the oldest glibc the binary starts on — is decided by the linker, so it is
//! read at run time from the binary's own ELF file: the highest `GLIBC_x.y` version among the
//! symbol versions it needs (what `objdump -T kernels | grep GLIBC_` shows). `backends` lists
//! the environment backends built in (`rattler` only with the cargo feature of that name, on
//! by default).

use std::fmt;

/// The text after `kernels ` for `--version`: the version, then one `key: value` line each
/// for the commit, the target, the glibc floor and the backends built in.
pub fn long_version() -> String {
    format!(
        "{}\ncommit: {}\ntarget: {}\nglibc: {}\nbackends: {}",
        env!("CARGO_PKG_VERSION"),
        env!("KERNELS_BUILD_COMMIT"),
        env!("KERNELS_BUILD_TARGET"),
        glibc_line(),
        backends_line(),
    )
}

/// The backends this build has, comma-separated.
fn backends_line() -> String {
    let built: Vec<&str> = envs::BackendKind::ALL
        .into_iter()
        .filter(|k| *k != envs::BackendKind::Rattler || envs::RATTLER_BUILT)
        .map(envs::BackendKind::name)
        .collect();
    built.join(", ")
}

/// The glibc floor of the running binary, in words.
fn glibc_line() -> String {
    let exe = match std::fs::read("/proc/self/exe") {
        Ok(bytes) => bytes,
        Err(e) => return format!("unknown (could not read /proc/self/exe: {e})"),
    };
    match glibc_floor(&exe) {
        Ok(Some(v)) => format!("{v} or newer"),
        Ok(None) => "not needed (the binary uses no glibc symbol versions)".to_string(),
        Err(e) => format!("unknown ({e})"),
    }
}

/// A glibc symbol version such as `2.17` or `2.2.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion(pub u32, pub u32, pub u32);

impl GlibcVersion {
    /// Parses the name of a version requirement: `GLIBC_2.17` → 2.17. `None` for other
    /// libraries' versions and for `GLIBC_PRIVATE`.
    pub fn from_requirement(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix("GLIBC_")?.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        parts
            .next()
            .is_none()
            .then_some(GlibcVersion(major, minor, patch))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            patch => write!(f, "{}.{}.{patch}", self.0, self.1),
        }
    }
}

/// Why an ELF file's version requirements could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct ElfError(&'static str);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a readable ELF file: {}", self.0)
    }
}

/// `SHT_GNU_verneed`: the section listing the symbol versions a file needs from each library.
const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
/// A bound on entries walked, so a damaged file cannot make the walk long.
const MAX_ENTRIES: usize = 10_000;

/// The highest `GLIBC_` version an ELF file needs, or `None` when it needs none (a static or
/// musl build). Reads the section headers and the `.gnu.version_r` section; never panics on
/// a short or damaged file.
pub fn glibc_floor(elf: &[u8]) -> Result<Option<GlibcVersion>, ElfError> {
    let file = Elf::new(elf)?;
    let mut highest = None;
    for index in 0..file.section_count()? {
        let section = file.section(index)?;
        if section.kind != SHT_GNU_VERNEED {
            continue;
        }
        let strings = file.section(usize::try_from(section.link).map_err(|_| ElfError("link"))?)?;
        for name in file.needed_versions(&section, &strings)? {
            highest = highest.max(GlibcVersion::from_requirement(name));
        }
    }
    Ok(highest)
}

/// The few fields of a section header that the walk needs.
struct Section {
    kind: u32,
    offset: usize,
    size: usize,
    link: u32,
    info: u32,
}

/// An ELF file's bytes with its class (32/64-bit) and byte order.
struct Elf<'a> {
    bytes: &'a [u8],
    wide: bool,
    little: bool,
}

impl<'a> Elf<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, ElfError> {
        if bytes.get(..4) != Some(b"\x7fELF") {
            return Err(ElfError("no ELF magic"));
        }
        let wide = match bytes.get(4) {
            Some(1) => false,
            Some(2) => true,
            _ => return Err(ElfError("unknown class")),
        };
        let little = match bytes.get(5) {
            Some(1) => true,
            Some(2) => false,
            _ => return Err(ElfError("unknown byte order")),
        };
        Ok(Elf {
            bytes,
            wide,
            little,
        })
    }

    fn uint(&self, at: usize, len: usize) -> Result<u64, ElfError> {
        let end = at.checked_add(len).ok_or(ElfError("offset overflow"))?;
        let raw = self.bytes.get(at..end).ok_or(ElfError("truncated"))?;
        let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
        Ok(if self.little {
            raw.iter().rev().fold(0, fold)
        } else {
            raw.iter().fold(0, fold)
        })
    }

    fn u16(&self, at: usize) -> Result<usize, ElfError> {
        self.uint(at, 2).map(|v| v as usize)
    }

    fn u32(&self, at: usize) -> Result<usize, ElfError> {
        self.uint(at, 4).map(|v| v as usize)
    }

    /// A 32- or 64-bit word, by class.
    fn word(&self, at: usize) -> Result<usize, ElfError> {
        let v = self.uint(at, if self.wide { 8 } else { 4 })?;
        usize::try_from(v).map_err(|_| ElfError("offset too large"))
    }

    fn section_count(&self) -> Result<usize, ElfError> {
        self.u16(if self.wide { 0x3c } else { 0x30 })
    }

    fn section(&self, index: usize) -> Result<Section, ElfError> {
        let (table, entry_size) = if self.wide {
            (self.word(0x28)?, self.u16(0x3a)?)
        } else {
            (self.word(0x20)?, self.u16(0x2e)?)
        };
        let at = index
            .checked_mul(entry_size)
            .and_then(|o| o.checked_add(table))
            .ok_or(ElfError("section table overflow"))?;
        // sh_type, then sh_offset, sh_size, sh_link and sh_info (after sh_flags and sh_addr).
        let (offset, size, link) = if self.wide {
            (at + 0x18, at + 0x20, at + 0x28)
        } else {
            (at + 0x10, at + 0x14, at + 0x18)
        };
        Ok(Section {
            kind: self.u32(at + 4)? as u32,
            offset: self.word(offset)?,
            size: self.word(size)?,
            link: self.u32(link)? as u32,
            info: self.u32(link + 4)? as u32,
        })
    }

    /// The version names a `SHT_GNU_verneed` section lists (`Elf_Verneed` entries, each with
    /// its chain of `Elf_Vernaux`; the same layout in both classes).
    fn needed_versions(
        &self,
        needs: &Section,
        strings: &Section,
    ) -> Result<Vec<&'a str>, ElfError> {
        let mut names = Vec::new();
        let mut entry = needs.offset;
        for _ in 0..(needs.info as usize).min(MAX_ENTRIES) {
            let (count, aux, next) = (
                self.u16(entry + 2)?,
                self.u32(entry + 8)?,
                self.u32(entry + 12)?,
            );
            let mut at = entry + aux;
            for _ in 0..count.min(MAX_ENTRIES) {
                names.push(self.string(strings, self.u32(at + 8)?)?);
                match self.u32(at + 12)? {
                    0 => break,
                    step => at += step,
                }
            }
            match next {
                0 => break,
                step => entry += step,
            }
        }
        if entry > needs.offset.saturating_add(needs.size) {
            return Err(ElfError("version needs run past their section"));
        }
        Ok(names)
    }

    /// The NUL-terminated string at `offset` in a string table section.
    fn string(&self, table: &Section, offset: usize) -> Result<&'a str, ElfError> {
        let start = table
            .offset
            .checked_add(offset)
            .ok_or(ElfError("string offset overflow"))?;
        let rest = self
            .bytes
            .get(start..)
            .ok_or(ElfError("truncated strings"))?;
        let end = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(ElfError("unterminated string"))?;
        std::str::from_utf8(&rest[..end]).map_err(|_| ElfError("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_parse_and_order() {
        let v = |s| GlibcVersion::from_requirement(s);
        assert_eq!(v("GLIBC_2.17"), Some(GlibcVersion(2, 17, 0)));
        assert_eq!(v("GLIBC_2.2.5"), Some(GlibcVersion(2, 2, 5)));
        assert_eq!(v("GLIBC_PRIVATE"), None);
        assert_eq!(v("GCC_3.0"), None);
        assert_eq!(v("GLIBC_2.1.2.3"), None);
        assert!(v("GLIBC_2.17") > v("GLIBC_2.2.5"));
        assert!(v("GLIBC_2.34") > v("GLIBC_2.17"));
        assert_eq!(GlibcVersion(2, 2, 5).to_string(), "2.2.5");
        assert_eq!(GlibcVersion(2, 17, 0).to_string(), "2.17");
    }

    /// A minimal little-endian ELF64 file: a string table and a verneed section needing
    /// `versions` from libc.so.6 (section 0 is the null section, as in real files).
    fn synthetic_elf(versions: &[&str]) -> Vec<u8> {
        let mut strings = b"\0libc.so.6\0".to_vec();
        let mut name_offsets = Vec::new();
        for v in versions {
            name_offsets.push(strings.len() as u32);
            strings.extend_from_slice(v.as_bytes());
            strings.push(0);
        }
        let mut needs = Vec::new();
        let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
        let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        le16(&mut needs, 1); // vn_version
        le16(&mut needs, versions.len() as u16); // vn_cnt
        le32(&mut needs, 1); // vn_file: "libc.so.6"
        le32(&mut needs, 16); // vn_aux
        le32(&mut needs, 0); // vn_next
        for (i, off) in name_offsets.iter().enumerate() {
            le32(&mut needs, 0); // vna_hash
            le16(&mut needs, 0); // vna_flags
            le16(&mut needs, i as u16 + 2); // vna_other
            le32(&mut needs, *off); // vna_name
            le32(&mut needs, if i + 1 == versions.len() { 0 } else { 16 }); // vna_next
        }
        let strings_at = 64;
        let needs_at = strings_at + strings.len();
        let table_at = needs_at + needs.len();
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&(table_at as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf.extend_from_slice(&strings);
        elf.extend_from_slice(&needs);
        let header = |kind: u32, offset: usize, size: usize, link: u32, info: u32| {
            let mut h = vec![0u8; 64];
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            h[0x28..0x2c].copy_from_slice(&link.to_le_bytes());
            h[0x2c..0x30].copy_from_slice(&info.to_le_bytes());
            h
        };
        elf.extend(header(0, 0, 0, 0, 0));
        elf.extend(header(3, strings_at, strings.len(), 0, 0));
        elf.extend(header(SHT_GNU_VERNEED, needs_at, needs.len(), 1, 1));
        elf
    }

    #[test]
    fn the_floor_is_the_highest_glibc_version_needed() {
        let elf = synthetic_elf(&["GLIBC_2.2.5", "GLIBC_2.14", "GLIBC_PRIVATE", "GLIBC_2.3"]);
        assert_eq!(glibc_floor(&elf), Ok(Some(GlibcVersion(2, 14, 0))));
        let none = synthetic_elf(&["GCC_3.0"]);
        assert_eq!(glibc_floor(&none), Ok(None));
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let elf = synthetic_elf(&["GLIBC_2.17"]);
        for len in 0..elf.len() {
            let _ = glibc_floor(&elf[..len]);
        }
        assert!(glibc_floor(b"not an elf").is_err());
        let mut bad = elf.clone();
        // The first vna_name (after the section table of 3 headers, the 32 bytes of version
        // needs, back to their 16-byte Verneed and 8 bytes into the Vernaux): far past the end.
        let at = bad.len() - 3 * 64 - 32 + 16 + 8;
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(glibc_floor(&bad).is_err());
    }

    #[test]
    fn this_test_binary_needs_some_glibc_on_a_gnu_target() {
        let exe = std::fs::read("/proc/self/exe").expect("read /proc/self/exe");
        let floor = glibc_floor(&exe).expect("parse own ELF file");
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            let floor = floor.expect("a glibc build needs some GLIBC_ version");
            assert!(floor >= GlibcVersion(2, 2, 5), "{floor}");
        }
    }
}
