//! Reading source files into rows: CSV (any delimiter, with or without a header) and JSON
//! Lines, in the source's encoding. Each row keeps its original bytes and line so that a
//! row that cannot be read goes to the quarantine exactly as it was.
//!
//! A row-level problem (invalid UTF-8, a wrong column count, a truncated last row, a line
//! that is not a JSON object) is a [`RowProblem`] on that row, never an error for the file;
//! only a file that cannot be read at all (missing header, mapping columns absent from it) is
//! an [`Error`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use encoding_rs::Encoding;

use crate::cleanse::{Problem, Reason};
use crate::error::Error;
use crate::mapping::{Format, Mapping};

/// The longest row the reader reads, in bytes (1 MiB). A longer row (a file without line
/// ends, an unterminated quote running to the end of the file) is quarantined as
/// `row_too_long` without being parsed, so no single row can make a stored document larger
/// than the store reads back.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// The problem of a row over [`MAX_ROW_BYTES`].
fn too_long(len: usize) -> RowProblem {
    RowProblem {
        field: "row".into(),
        problem: Problem::new(
            Reason::RowTooLong,
            format!("the row is {len} bytes long; rows are read up to {MAX_ROW_BYTES} bytes"),
        ),
    }
}

/// One row of a source file.
#[derive(Debug, Clone)]
pub struct RawRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The row's original bytes (without the line end).
    pub raw: Vec<u8>,
    /// The values of the columns the mapping uses, in [`Columns`] order, or why the row
    /// cannot be read.
    pub values: Result<Vec<String>, RowProblem>,
}

/// Why a whole row cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The column or part concerned (`row` for the whole row).
    pub field: String,
    /// The problem.
    pub problem: Problem,
}

/// The columns a mapping uses, each with an index into [`RawRow::values`].
#[derive(Debug, Clone, Default)]
pub struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    /// Registers a column (idempotent) and returns its index.
    pub fn add(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// The index of a registered column.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The column names, in index order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// A parsed source file: its header line (for retrying quarantined rows) and its rows.
#[derive(Debug)]
pub struct SourceFile {
    /// The header row's original bytes, for CSV files with a header.
    pub header: Option<Vec<u8>>,
    /// The rows, in file order.
    pub rows: Vec<RawRow>,
}

/// Reads a whole file with a mapping; `columns` are the columns the mapping uses.
pub fn read_file(path: &Path, mapping: &Mapping, columns: &Columns) -> Result<SourceFile, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_bytes(&bytes, path, mapping, columns)
}

/// Reads a file with a mapping in parts of about `part_bytes`, handing each part's rows to
/// `each` in file order, with the lines numbered as in the whole file, so that a large file
/// never sits in memory as rows all at once (only its bytes do). Parts end at record
/// boundaries as the CSV reader sees them (quoted line breaks included) or at line ends for
/// JSON Lines; a file in an encoding that is not ASCII-compatible is read whole. `each` also
/// gets how many bytes of the file are read so far (for progress).
pub fn read_file_parts(
    path: &Path,
    mapping: &Mapping,
    columns: &Columns,
    part_bytes: usize,
    mut each: impl FnMut(SourceFile, u64) -> Result<(), Error>,
) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let size = bytes.len() as u64;
    let encoding = crate::mapping::encoding(&mapping.source.encoding).unwrap_or(encoding_rs::UTF_8);
    let body = if encoding == encoding_rs::UTF_8 {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)
    } else {
        &bytes
    };
    if !encoding.is_ascii_compatible() || body.len() <= part_bytes.max(1) {
        return each(read_bytes(&bytes, path, mapping, columns)?, size);
    }
    let csv = mapping.source.format == Format::Csv;
    let with_header = csv && mapping.source.header;
    // Record starts (byte, 1-based line) where parts begin; the header is its own part.
    let cuts = if csv {
        csv_cuts(body, mapping, part_bytes)
    } else {
        line_cuts(body, part_bytes)
    };
    let (header, starts): (&[u8], Vec<(usize, u64)>) = match (with_header, cuts.first()) {
        (true, Some(&(end, _))) => (&body[..end], cuts),
        (true, None) => {
            // Only a header (or nothing): read as it is.
            return each(read_bytes(&bytes, path, mapping, columns)?, size);
        }
        (false, _) => (&body[..0], std::iter::once((0, 1)).chain(cuts).collect()),
    };
    for (i, &(start, line)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(body.len(), |c| c.0);
        if start >= end {
            continue;
        }
        let mut part = Vec::with_capacity(header.len() + end - start);
        part.extend_from_slice(header);
        part.extend_from_slice(&body[start..end]);
        let mut parsed = read_part(&part, path, mapping, columns, end >= body.len())?;
        drop(part);
        // In the part the first record is on line 2 after the header, 1 without one.
        let shift = line - if with_header { 2 } else { 1 };
        for r in &mut parsed.rows {
            r.line += shift;
        }
        each(parsed, end as u64)?;
    }
    Ok(())
}

/// Record boundaries about every `part_bytes`, as the CSV reader finds them. With a header,
/// the first cut is the end of the header record.
fn csv_cuts(bytes: &[u8], mapping: &Mapping, part_bytes: usize) -> Vec<(usize, u64)> {
    let mut rdr = csv_reader(bytes, mapping);
    let mut record = csv::ByteRecord::new();
    let mut cuts = Vec::new();
    let mut last = 0usize;
    let mut first = mapping.source.header;
    while let Ok(true) = rdr.read_byte_record(&mut record) {
        let pos = rdr.position();
        let at = pos.byte() as usize;
        if first || at - last >= part_bytes {
            first = false;
            if at < bytes.len() {
                cuts.push((at, pos.line()));
            }
            last = at;
        }
    }
    cuts
}

/// The CSV reader every read uses: the mapping's delimiter, rows of any length, the header
/// read as a row.
fn csv_reader<'a>(bytes: &'a [u8], mapping: &Mapping) -> csv::Reader<&'a [u8]> {
    let delimiter = mapping
        .source
        .delimiter
        .as_bytes()
        .first()
        .copied()
        .unwrap_or(b',');
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Line boundaries about every `part_bytes`.
fn line_cuts(bytes: &[u8], part_bytes: usize) -> Vec<(usize, u64)> {
    let mut cuts = Vec::new();
    let mut line = 1u64;
    let mut last = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            line += 1;
            if i + 1 - last >= part_bytes && i + 1 < bytes.len() {
                cuts.push((i + 1, line));
                last = i + 1;
            }
        }
    }
    cuts
}

/// Reads a file's contents (see [`read_file`]); `path` names it in errors.
pub fn read_bytes(
    bytes: &[u8],
    path: &Path,
    mapping: &Mapping,
    columns: &Columns,
) -> Result<SourceFile, Error> {
    read_part(bytes, path, mapping, columns, true)
}

/// [`read_bytes`] on a part of a file; `at_end`: the part ends where the file ends (only
/// there can a row be cut off).
fn read_part(
    bytes: &[u8],
    path: &Path,
    mapping: &Mapping,
    columns: &Columns,
    at_end: bool,
) -> Result<SourceFile, Error> {
    let encoding = crate::mapping::encoding(&mapping.source.encoding).unwrap_or(encoding_rs::UTF_8);
    let bytes = if encoding == encoding_rs::UTF_8 {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    };
    match mapping.source.format {
        Format::Csv => read_csv(bytes, path, mapping, columns, encoding, at_end),
        Format::Jsonl => Ok(read_jsonl(bytes, columns, encoding, at_end)),
    }
}

fn decode<'a>(bytes: &'a [u8], encoding: &'static Encoding) -> Option<Cow<'a, str>> {
    if encoding == encoding_rs::UTF_8 {
        std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
    } else {
        let (s, had_errors) = encoding.decode_without_bom_handling(bytes);
        (!had_errors).then_some(s)
    }
}

fn read_csv(
    bytes: &[u8],
    path: &Path,
    mapping: &Mapping,
    columns: &Columns,
    encoding: &'static Encoding,
    at_end: bool,
) -> Result<SourceFile, Error> {
    let mut rdr = csv_reader(bytes, mapping);
    let mut record = csv::ByteRecord::new();
    let file_err = |line: u64, field: &str, reason: String| Error::File {
        file: path.to_path_buf(),
        line: line as usize,
        field: field.to_string(),
        reason,
    };

    // The header names the columns; the mapping's columns must all be there.
    let (names, header): (Vec<String>, Option<Vec<u8>>) = if mapping.source.header {
        let start = rdr.position().byte() as usize;
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Err(file_err(1, "header", "the file is empty".into())),
            Err(e) => return Err(file_err(1, "header", e.to_string())),
        }
        let end = rdr.position().byte() as usize;
        let mut names = Vec::with_capacity(record.len());
        for (i, f) in record.iter().enumerate() {
            let name = decode(f, encoding).ok_or_else(|| {
                file_err(
                    1,
                    "header",
                    format!("column {} is not valid {}", i + 1, encoding.name()),
                )
            })?;
            names.push(name.trim().to_string());
        }
        (
            names,
            Some(trim_line_end(&bytes[start..end.min(bytes.len())]).to_vec()),
        )
    } else {
        (mapping.source.columns.clone(), None)
    };
    let mut positions = Vec::with_capacity(columns.names().len());
    for c in columns.names() {
        match names.iter().position(|n| n == c) {
            Some(p) => positions.push(p),
            None => {
                return Err(file_err(
                    1,
                    c,
                    format!(
                        "column `{c}` named in the mapping {} is not in the file (columns: {})",
                        mapping.path.display(),
                        names.join(", ")
                    ),
                ));
            }
        }
    }

    let ends_with_newline = bytes.last().is_some_and(|&b| b == b'\n' || b == b'\r');
    let mut rows = Vec::new();
    loop {
        let start = rdr.position().byte() as usize;
        let line = rdr.position().line();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // The csv crate only fails on I/O here (flexible mode); keep the row.
                let end = rdr.position().byte() as usize;
                rows.push(RawRow {
                    line,
                    raw: trim_line_end(&bytes[start.min(bytes.len())..end.min(bytes.len())])
                        .to_vec(),
                    values: Err(RowProblem {
                        field: "row".into(),
                        problem: Problem::new(Reason::WrongType, e.to_string()),
                    }),
                });
                continue;
            }
        }
        let end = (rdr.position().byte() as usize).min(bytes.len());
        let raw = trim_line_end(&bytes[start.min(end)..end]);
        // Blank lines carry nothing: skip them (the csv crate does too, but be explicit).
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue;
        }
        let last = at_end && end >= bytes.len();
        let values = if raw.len() > MAX_ROW_BYTES {
            Err(too_long(raw.len()))
        } else if record.len() != names.len() {
            let truncated = last && !ends_with_newline && record.len() < names.len();
            let unterminated_quote = last && raw.iter().filter(|&&b| b == b'"').count() % 2 == 1;
            if truncated || unterminated_quote {
                Err(RowProblem {
                    field: "row".into(),
                    problem: Problem::new(
                        Reason::TruncatedLastLine,
                        format!(
                            "the file ends in the middle of this row ({} of {} columns)",
                            record.len(),
                            names.len()
                        ),
                    ),
                })
            } else {
                Err(RowProblem {
                    field: "row".into(),
                    problem: Problem::new(
                        Reason::WrongColumnCount,
                        format!(
                            "{} columns where the header has {}",
                            record.len(),
                            names.len()
                        ),
                    ),
                })
            }
        } else if last && !ends_with_newline && raw.iter().filter(|&&b| b == b'"').count() % 2 == 1
        {
            Err(RowProblem {
                field: "row".into(),
                problem: Problem::new(
                    Reason::TruncatedLastLine,
                    "the file ends inside a quoted value",
                ),
            })
        } else {
            let mut vals = Vec::with_capacity(positions.len());
            let mut problem = None;
            for (ci, &p) in positions.iter().enumerate() {
                let f = record.get(p).unwrap_or(b"");
                match decode(f, encoding) {
                    Some(s) => vals.push(s.into_owned()),
                    None => {
                        problem = Some(RowProblem {
                            field: columns.names()[ci].clone(),
                            problem: Problem::new(
                                Reason::NonUtf8,
                                format!("the value is not valid {}", encoding.name()),
                            ),
                        });
                        break;
                    }
                }
            }
            // Invalid bytes in a column the mapping does not use still make the row suspect.
            if problem.is_none() && decode(raw, encoding).is_none() {
                let col = record
                    .iter()
                    .position(|f| decode(f, encoding).is_none())
                    .and_then(|i| names.get(i).cloned())
                    .unwrap_or_else(|| "row".into());
                problem = Some(RowProblem {
                    field: col,
                    problem: Problem::new(
                        Reason::NonUtf8,
                        format!("the value is not valid {}", encoding.name()),
                    ),
                });
            }
            match problem {
                Some(p) => Err(p),
                None => Ok(vals),
            }
        };
        rows.push(RawRow {
            line,
            raw: raw.to_vec(),
            values,
        });
    }
    Ok(SourceFile { header, rows })
}

fn trim_line_end(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && (b[end - 1] == b'\n' || b[end - 1] == b'\r') {
        end -= 1;
    }
    &b[..end]
}

fn read_jsonl(
    bytes: &[u8],
    columns: &Columns,
    encoding: &'static Encoding,
    at_end: bool,
) -> SourceFile {
    let ends_with_newline = bytes.last().is_some_and(|&b| b == b'\n');
    let mut rows = Vec::new();
    let mut start = 0usize;
    let mut line = 0u64;
    while start < bytes.len() {
        line += 1;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| start + p)
            .unwrap_or(bytes.len());
        let raw = trim_line_end(&bytes[start..end]);
        let last = at_end && end >= bytes.len();
        start = end + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let values = match decode(raw, encoding) {
            _ if raw.len() > MAX_ROW_BYTES => Err(too_long(raw.len())),
            None => Err(RowProblem {
                field: invalid_json_field(raw),
                problem: Problem::new(
                    Reason::NonUtf8,
                    format!("the line is not valid {}", encoding.name()),
                ),
            }),
            Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(obj)) => Ok(columns
                    .names()
                    .iter()
                    .map(|c| json_field(&obj, c))
                    .collect()),
                Ok(_) => Err(RowProblem {
                    field: "row".into(),
                    problem: Problem::new(Reason::InvalidJson, "the line is not a JSON object"),
                }),
                Err(e) if last && !ends_with_newline && e.is_eof() => Err(RowProblem {
                    field: "row".into(),
                    problem: Problem::new(
                        Reason::TruncatedLastLine,
                        "the file ends in the middle of this JSON object",
                    ),
                }),
                Err(e) => Err(RowProblem {
                    field: "row".into(),
                    problem: Problem::new(Reason::InvalidJson, e.to_string()),
                }),
            },
        };
        rows.push(RawRow {
            line,
            raw: raw.to_vec(),
            values,
        });
    }
    SourceFile { header: None, rows }
}

/// The key whose value holds the invalid bytes of a JSON line, or `row`.
fn invalid_json_field(raw: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(raw);
    if let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(&lossy) {
        for (k, v) in &obj {
            if let serde_json::Value::String(s) = v
                && s.contains('\u{FFFD}')
            {
                return k.clone();
            }
        }
    }
    "row".into()
}

/// A field of a JSON object by dotted path, as text (`null` and absent become empty).
fn json_field(obj: &serde_json::Map<String, serde_json::Value>, path: &str) -> String {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return String::new();
    };
    // A key containing dots is tried whole first.
    let mut v = match obj.get(path) {
        Some(v) => return json_text(v),
        None => match obj.get(first) {
            Some(v) => v,
            None => return String::new(),
        },
    };
    for p in parts {
        v = match v.get(p) {
            Some(x) => x,
            None => return String::new(),
        };
    }
    json_text(v)
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(extra: &str, format: &str) -> Mapping {
        let text = format!(
            "[source]\nname = \"t\"\nformat = \"{format}\"\n{extra}\n[party]\nkey = \"id\"\nkind = \"person\"\nfull_name = \"name\"\n"
        );
        Mapping::from_toml_str(&text, Path::new("t.toml")).unwrap()
    }

    fn cols() -> Columns {
        let mut c = Columns::default();
        c.add("id");
        c.add("name");
        c
    }

    fn reasons(f: &SourceFile) -> Vec<Option<Reason>> {
        f.rows
            .iter()
            .map(|r| r.values.as_ref().err().map(|p| p.problem.reason))
            .collect()
    }

    #[test]
    fn csv_rows_keep_lines_and_bytes() {
        let m = mapping("", "csv");
        let data = b"id,name,x\n1,\"Ann\nLee\",a\n2,Bob,b,extra\n3,Eve\xff,c\n4,\"Cut";
        let f = read_bytes(data, Path::new("f.csv"), &m, &cols()).unwrap();
        assert_eq!(f.header.as_deref(), Some(&b"id,name,x"[..]));
        let lines: Vec<u64> = f.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 5, 6]);
        assert_eq!(f.rows[0].values.as_ref().unwrap(), &["1", "Ann\nLee"]);
        assert_eq!(
            reasons(&f),
            [
                None,
                Some(Reason::WrongColumnCount),
                Some(Reason::NonUtf8),
                Some(Reason::TruncatedLastLine)
            ]
        );
        assert_eq!(f.rows[2].raw, b"3,Eve\xff,c");
        assert_eq!(f.rows[2].values.as_ref().unwrap_err().field, "name");
    }

    #[test]
    fn latin1_decodes_and_missing_columns_are_named() {
        let m = mapping("encoding = \"latin-1\"\ndelimiter = \";\"", "csv");
        let f = read_bytes(b"id;name\n1;Zo\xeb\n", Path::new("f.csv"), &m, &cols()).unwrap();
        assert_eq!(f.rows[0].values.as_ref().unwrap(), &["1", "Zoë"]);
        let err = read_bytes(b"id;nom\n1;x\n", Path::new("f.csv"), &m, &cols()).unwrap_err();
        assert!(
            err.to_string().contains("f.csv:1: name: column `name`"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_rows() {
        let m = mapping("", "jsonl");
        let mut c = Columns::default();
        c.add("id");
        c.add("p.name");
        let data = b"{\"id\": 7, \"p\": {\"name\": \"Ann\"}}\n[1]\n\n{\"id\": \"x\xff\"}\n{\"id\": 9, \"p\"";
        let f = read_bytes(data, Path::new("f.jsonl"), &m, &c).unwrap();
        assert_eq!(f.rows[0].values.as_ref().unwrap(), &["7", "Ann"]);
        assert_eq!(
            reasons(&f),
            [
                None,
                Some(Reason::InvalidJson),
                Some(Reason::NonUtf8),
                Some(Reason::TruncatedLastLine)
            ]
        );
        assert_eq!(f.rows[3].line, 5);
    }
}
