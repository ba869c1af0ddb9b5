//! Reading `kernels.toml`: the text is parsed into a document with spans, serde reads the
//! model ([`super::model`]) out of it with every problem kept ([`super::document`]), and the
//! validation ([`super::validate`]) turns the model into typed entries. Each problem serde
//! meets is worded here from what the document holds at its span, so it names the field, the
//! type found and what to write instead.

use std::ops::Range;

use toml::de::{DeTable, DeValue, Error};
use toml::Spanned;

use super::document::{self, Node, Spot, Step};
use super::model::{keys_of, FileModel, KernelModel};
use super::report::{type_name, Context, Report};
use super::validate::{self, KernelSite};
use super::{FileErrors, KernelsFile};

/// The hint for a `kernel` that is not an array of tables.
const ONE_TABLE_EACH: &str = "write each kernel as a [[kernel]] table (double brackets)";

/// Parses the text of a kernels.toml.
pub(super) fn parse(text: &str, ctx: &Context<'_>) -> Result<KernelsFile, FileErrors> {
    let mut report = Report::new(text, ctx);
    let doc = match DeTable::parse(text) {
        Ok(root) => Spanned::new(root.span(), DeValue::Table(root.into_inner())),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            report.error(span, None, e.message().trim_end(), None);
            return Err(report.finish());
        }
    };
    let sites = kernel_sites(&doc);
    let model =
        document::read_all::<FileModel>(&doc, |e| serde_problem(&mut report, &doc, &sites, e));
    let lists_kernels = doc
        .get_ref()
        .as_table()
        .is_some_and(|t| t.contains_key("kernel"));
    if !lists_kernels {
        report.error(
            0..0,
            None,
            "the file lists no kernels",
            Some("add a [[kernel]] table with at least `name = \"...\"`".into()),
        );
    }
    let file = validate::file(model, &sites, &mut report);
    if report.is_clean() {
        Ok(file)
    } else {
        Err(report.finish())
    }
}

/// Each element of the document's `kernel` array, as the validation needs it.
fn kernel_sites(doc: &Node<'_>) -> Vec<KernelSite> {
    let Some(DeValue::Array(items)) = doc
        .get_ref()
        .as_table()
        .and_then(|t| t.get("kernel"))
        .map(Spanned::get_ref)
    else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let table = item.get_ref().as_table();
            // Refer to a kernel by its name when it has a usable one, else by position.
            let label = match table.and_then(|t| t.get("name")).map(Spanned::get_ref) {
                Some(DeValue::String(s)) if !s.is_empty() => format!("kernel `{s}`"),
                _ => format!("kernel[{index}]"),
            };
            let keys = table.into_iter().flatten();
            KernelSite {
                index,
                span: item.span(),
                label,
                keys: keys
                    .map(|(k, _)| (k.get_ref().to_string(), k.span()))
                    .collect(),
            }
        })
        .collect()
}

/// Words a problem serde met, from what the document holds where it is.
fn serde_problem(report: &mut Report<'_>, doc: &Node<'_>, sites: &[KernelSite], e: &Error) {
    let Some(span) = e.span() else {
        report.error(0..0, None, e.message(), None);
        return;
    };
    let spot = document::locate(doc, &span);
    let label = |i: &usize| sites.get(*i).map_or("kernel", |s| s.label.as_str());
    match (spot.steps.as_slice(), spot.at_key) {
        ([Step::Key(key)], true) => {
            report.unknown_key(span, None, key, keys_of::<FileModel>());
        }
        ([Step::Key(key), ..], _) if key == "version" => validate::bad_version(report, span),
        ([Step::Key(key)], false) if key == "kernel" => report.error(
            span,
            Some("kernel".into()),
            "expected an array of tables",
            Some(ONE_TABLE_EACH.into()),
        ),
        ([Step::Key(_), Step::Index(i)], _) => report.error(
            span,
            Some(format!("kernel[{i}]")),
            "expected a table",
            Some(ONE_TABLE_EACH.into()),
        ),
        ([Step::Key(_), Step::Index(i), Step::Key(key)], true) => {
            report.unknown_key(span, Some(label(i)), key, keys_of::<KernelModel>());
        }
        ([Step::Key(_), Step::Index(i), Step::Key(key), inner @ ..], false) => {
            let field = format!("{}.{key}", label(i));
            wrong_value(report, span, field, key, inner, &spot, e.message());
        }
        _ => report.error(span, None, e.message(), None),
    }
}

/// A value of a `[[kernel]]` key that is not of the key's type: the whole value (`inner`
/// empty), an element of its list, or an entry of its table.
fn wrong_value(
    report: &mut Report<'_>,
    span: Range<usize>,
    field: String,
    key: &str,
    inner: &[Step],
    spot: &Spot<'_, '_>,
    message: &str,
) {
    let found = type_name(spot.value.get_ref());
    let raw = report.raw(span.clone());
    // serde says what the key's type wanted: "..., expected a string".
    let wanted = message.rsplit_once(", expected ").map_or("", |(_, w)| w);
    let (field, message, hint) = match inner {
        [] if key == "python" => {
            let number = matches!(
                spot.value.get_ref(),
                DeValue::Integer(_) | DeValue::Float(_)
            );
            let (message, hint) = validate::bad_python(number, raw);
            (field, message, hint)
        }
        [] => match wanted {
            "a boolean" => (field, "expected true or false".into(), None),
            "a sequence" => {
                let hint = match spot.value.get_ref() {
                    DeValue::String(s) => Some(format!("write a list: [{:?}]", s.as_ref())),
                    _ => None,
                };
                let message = format!("expected an array of strings, found {found}");
                (field, message, hint)
            }
            "a map" => (
                field,
                "expected a table of KEY = \"value\"".into(),
                Some(format!("write {key} = {{ MY_VAR = \"1\" }}")),
            ),
            _ => (field, format!("expected a string, found {found}"), None),
        },
        [Step::Index(_)] => (
            field,
            format!("expected a string in the list, found {found}"),
            None,
        ),
        [Step::Key(var)] => (
            format!("{field}.{var}"),
            format!("expected a string, found {found}"),
            Some(format!("quote it: {var} = \"{raw}\"")),
        ),
        _ => (field, message.to_string(), None),
    };
    report.error(span, Some(field), message, hint);
}
