//! Source files and spans.
//!
//! A span is a file id plus a byte range; line and column are computed only when a
//! diagnostic is rendered, so every stage can carry spans cheaply.

use std::fmt;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub u32);

thread_local! {
    /// Set by [`with_file_names`]: the names `Debug` gives files instead of indices.
    static FILE_NAMES: std::cell::RefCell<Option<std::sync::Arc<Vec<String>>>> =
        const { std::cell::RefCell::new(None) };
    /// The files `Debug` has named since [`with_file_names`] began.
    static FILES_NAMED: std::cell::RefCell<Vec<SourceId>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with every [`SourceId`] and [`Span`] `Debug`-printed by its file's name
/// (`"services/a.kdl"@10..20`) instead of its index in the source map, which moves when a
/// file is added or removed before it: a value's `Debug` text then changes only when the
/// value or its location (file and offsets) does, which is what the reuse keys hash
/// (`crate::emit::reuse`). `names` is indexed by [`SourceId`]. Also returns the files
/// named (sorted, once each): a location is `file:line`, so whoever hashes a span must
/// hash its file's bytes too.
pub fn with_file_names<T>(
    names: &std::sync::Arc<Vec<String>>,
    f: impl FnOnce() -> T,
) -> (T, Vec<SourceId>) {
    let previous = FILE_NAMES.with(|n| n.replace(Some(names.clone())));
    let outer = FILES_NAMED.with(std::cell::RefCell::take);
    let out = f();
    FILE_NAMES.with(|n| *n.borrow_mut() = previous);
    let mut named = FILES_NAMED.with(|n| n.replace(outer));
    named.sort_unstable();
    named.dedup();
    (out, named)
}

/// `f` of the name `Debug` gives the file `id` (`None` outside [`with_file_names`]),
/// which is noted as named.
fn with_debug_name<R>(id: SourceId, f: impl FnOnce(Option<&str>) -> R) -> R {
    FILE_NAMES.with(|n| {
        let names = n.borrow();
        let name = names.as_ref().and_then(|names| names.get(id.0 as usize));
        if name.is_some() {
            FILES_NAMED.with(|n| n.borrow_mut().push(id));
        }
        f(name.map(String::as_str))
    })
}

impl fmt::Debug for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_debug_name(*self, |name| match name {
            Some(name) => write!(f, "SourceId({name:?})"),
            None => write!(f, "SourceId({})", self.0),
        })
    }
}

/// A byte range in one source file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[must_use]
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Self {
            source,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end.max(start)).unwrap_or(u32::MAX),
        }
    }

    /// The empty span at the start of a file, for diagnostics about the file as a whole.
    #[must_use]
    pub fn file_start(source: SourceId) -> Self {
        Self::new(source, 0, 0)
    }

    #[must_use]
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    #[must_use]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_debug_name(self.source, |name| match name {
            Some(name) => write!(f, "{name:?}@{}..{}", self.start, self.end),
            None => write!(f, "{}@{}..{}", self.source.0, self.start, self.end),
        })
    }
}

/// Where a file comes from: the user's project or the embedded standard library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `.kdl` file of the project.
    Project,
    /// An embedded standard-library file.
    Stdlib,
    /// A project file under `templates/` that overrides a stdlib text template (`.hbs`).
    TemplateOverride,
}

/// One source file: its display name (relative to the project root, `/`-separated, or
/// `<stdlib/...>`) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
    pub origin: Origin,
    /// The file could not be decoded; `text` is a lossy copy kept for diagnostics only.
    pub unreadable: bool,
    line_starts: Vec<usize>,
}

impl Source {
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<String>, origin: Origin) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            name: name.into(),
            text,
            origin,
            unreadable: false,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in Unicode scalar values) of a byte offset.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// 0-based line and UTF-16 column of a byte offset, as the Language Server Protocol counts.
    #[must_use]
    pub fn line_col_utf16(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let (line, _) = self.line_col(offset);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().map(char::len_utf16).sum());
        (line - 1, col)
    }

    /// Byte offset of a 0-based line and UTF-16 column (the inverse of [`Self::line_col_utf16`]).
    #[must_use]
    pub fn offset_of_utf16(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let mut units = 0;
        for (i, c) in self.text[start..].char_indices() {
            if units >= col || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        self.text.len()
    }
}

/// Every file of one compilation. Ids are stable for the life of the map.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<Source>,
}

impl SourceMap {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, source: Source) -> SourceId {
        let id = SourceId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(source);
        id
    }

    #[must_use]
    pub fn get(&self, id: SourceId) -> &Source {
        &self.files[id.0 as usize]
    }

    #[must_use]
    pub fn find(&self, name: &str) -> Option<SourceId> {
        self.files
            .iter()
            .position(|f| f.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(SourceId)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &Source)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, s)| (SourceId(u32::try_from(i).unwrap_or(u32::MAX)), s))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `file:line` of a span, as it appears in `nestio.dev/source` annotations.
    #[must_use]
    pub fn location(&self, span: Span) -> String {
        let src = self.get(span.source);
        let (line, _) = src.line_col(span.start as usize);
        format!("{}:{line}", src.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars_and_utf16() {
        let s = Source::new("a.kdl", "ab\nxé𝄞z\n", Origin::Project);
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        let z = s.text.find('z').unwrap_or_default();
        assert_eq!(s.line_col(z), (2, 4));
        assert_eq!(s.line_col_utf16(z), (1, 4));
        assert_eq!(s.offset_of_utf16(1, 4), z);
    }
}
