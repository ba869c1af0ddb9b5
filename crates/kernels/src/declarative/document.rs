//! Reading a serde model out of a parsed TOML document without stopping at its first
//! problem. serde gives up at the first key or value it cannot read; to report every problem
//! at once, the entry that problem is about (a table's key and value, or an array's element)
//! is left out of a copy of the document and the rest is read again, until a pass succeeds.
//! Spans stay those of the original text, so each problem can be looked up in the original
//! document ([`locate`]) to say what was found there.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeArray, DeValue, Error, ValueDeserializer};
use toml::Spanned;

/// A value of the document, with its span.
pub(super) type Node<'i> = Spanned<DeValue<'i>>;

/// The most passes over one document: a file with more problems than this reports this many
/// of them (each pass reads the whole document again).
const MAX_PASSES: usize = 200;

/// One step down the document: to a key's value in a table, or to an element of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// The value of this key.
    Key(String),
    /// The element at this position (in the original document).
    Index(usize),
}

/// Where a span is in the document.
pub(super) struct Spot<'a, 'i> {
    /// The steps from the top down to the key or value at the span (none when nothing is).
    pub steps: Vec<Step>,
    /// Whether the span is the key of the last step rather than its value.
    pub at_key: bool,
    /// The value at the span (or of the key at it).
    pub value: &'a Node<'i>,
}

/// Reads `T` from `doc`, handing every problem to `report`. The value comes from the first
/// pass that succeeds, so it lacks the entries that had problems; `None` when no pass did
/// (a problem that could not be set aside, or too many).
pub(super) fn read_all<T>(doc: &Node<'_>, mut report: impl FnMut(&Error)) -> Option<T>
where
    T: for<'de> Deserialize<'de>,
{
    let mut rest = doc.clone();
    for _ in 0..MAX_PASSES {
        match T::deserialize(ValueDeserializer::from(rest.clone())) {
            Ok(value) => return Some(value),
            Err(e) => {
                report(&e);
                if !e.span().is_some_and(|span| leave_out(&mut rest, &span)) {
                    return None;
                }
            }
        }
    }
    None
}

/// The key or value of `doc` at `span` (the innermost one when several share it).
pub(super) fn locate<'a, 'i>(doc: &'a Node<'i>, span: &Range<usize>) -> Spot<'a, 'i> {
    let mut steps = Vec::new();
    let (value, at_key) = find(doc, span, &mut steps).unwrap_or((doc, false));
    Spot {
        steps,
        at_key,
        value,
    }
}

/// Searches `node` for the key or value at `span`, pushing the steps to it onto `steps`. The
/// whole tree is searched: a table's span is its header only, not its contents, and the
/// deepest match wins (an array of tables has the span of its first table).
fn find<'a, 'i>(
    node: &'a Node<'i>,
    span: &Range<usize>,
    steps: &mut Vec<Step>,
) -> Option<(&'a Node<'i>, bool)> {
    for (step, key, value) in children(node) {
        steps.push(step);
        if key.as_ref() == Some(span) {
            return Some((value, true));
        }
        if let Some(hit) = find(value, span, steps) {
            return Some(hit);
        }
        if value.span() == *span {
            return Some((value, false));
        }
        steps.pop();
    }
    None
}

/// The entries of a table (with their key spans) or the elements of an array.
fn children<'a, 'i>(node: &'a Node<'i>) -> Vec<(Step, Option<Range<usize>>, &'a Node<'i>)> {
    match node.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .map(|(k, v)| (Step::Key(k.get_ref().to_string()), Some(k.span()), v))
            .collect(),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::Index(i), None, v))
            .collect(),
        _ => Vec::new(),
    }
}

/// Removes the entry of `doc` that `span` is about (its key or its value); false when there
/// is none.
fn leave_out(doc: &mut Node<'_>, span: &Range<usize>) -> bool {
    let mut steps = Vec::new();
    if find(doc, span, &mut steps).is_none() {
        return false;
    }
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut node = doc;
    for step in parents {
        let child = match (node.get_mut(), step) {
            (DeValue::Table(table), Step::Key(key)) => table.get_mut(key.as_str()),
            (DeValue::Array(items), Step::Index(i)) => items.get_mut(*i),
            _ => None,
        };
        let Some(child) = child else {
            return false;
        };
        node = child;
    }
    match (node.get_mut(), last) {
        (DeValue::Table(table), Step::Key(key)) => table.remove(key.as_str()).is_some(),
        (DeValue::Array(items), Step::Index(i)) => {
            let all = std::mem::replace(items, DeArray::new());
            *items = all
                .into_iter()
                .enumerate()
                .filter_map(|(j, v)| (j != *i).then_some(v))
                .collect();
            true
        }
        _ => false,
    }
}
