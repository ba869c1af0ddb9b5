//! The shape of `kernels.toml` as serde reads it: which keys exist, and the TOML type of each.
//! This is the one list of the file's keys (unknown keys, their suggestions and the "known
//! keys" hint all come from it). Values stay as written, each with its span, so
//! [`super::validate`] can check them and point at the one that is wrong.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde::Deserialize;
use toml::Spanned;

/// A string value, with where it is written.
pub(super) type Text = Spanned<String>;

/// A list of strings, each with where it is written.
pub(super) type TextList = Spanned<Vec<Text>>;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileModel {
    /// `version = 1`.
    pub version: Option<Spanned<u32>>,
    /// The `[[kernel]]` tables.
    pub kernel: Option<Vec<Spanned<KernelModel>>>,
}

/// One `[[kernel]]` table (each key is described in `docs/reference/kernels-toml.md`). Every
/// key is optional here: a missing `name` is reported by the validation, which knows which
/// kernel it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KernelModel {
    /// The kernel name (required; checked by the validation).
    pub name: Option<Text>,
    /// What Jupyter shows.
    pub display_name: Option<Text>,
    /// `python` or `r`.
    pub language: Option<Text>,
    /// `auto` or one backend's name.
    pub backend: Option<Text>,
    /// The Python version of a new environment, as a string (`3.10` is not `3.1`).
    pub python: Option<Text>,
    /// conda-family packages.
    pub packages: Option<TextList>,
    /// pip packages.
    pub pip: Option<TextList>,
    /// A pip requirements file.
    pub requirements: Option<Text>,
    /// A conda environment file.
    pub environment_file: Option<Text>,
    /// conda channels.
    pub channels: Option<TextList>,
    /// An environment to register instead of creating one.
    pub existing: Option<Text>,
    /// An environment to copy: a path, kernel name or conda environment name.
    pub clone: Option<Text>,
    /// Where to create the environment.
    pub prefix: Option<Text>,
    /// Variables for the kernel.
    pub env: Option<Spanned<BTreeMap<Text, Text>>>,
    /// `user`, `system` or `sys-prefix`.
    pub scope: Option<Text>,
    /// Whether to record the kernel and its environment as protected.
    pub protect: Option<Spanned<bool>>,
    /// Whether a new venv may use kernels' own uv.
    pub provision_uv: Option<Spanned<bool>>,
}

/// The keys a derived struct reads, in declaration order (for "did you mean" and the list of
/// known keys): asks `T` to deserialize itself from a probe that only records them.
pub(super) fn keys_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = KeyProbe(&[]);
    // The probe always fails, after it has the keys.
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct KeyProbe(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut KeyProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("keys recorded"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
