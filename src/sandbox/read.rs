//! Reading files: whole text files within a limit, `head`, `tail` and line ranges of files of any
//! size, and raw bytes for media and resources.
//!
//! Partial reads never load the whole file: `head` and ranges scan forward with `memchr` keeping
//! only the lines they return, `tail` scans backward from the end in fixed-size chunks. Output is
//! cut only at line ends or, when a single line exceeds the limit, at a character boundary, so a
//! multibyte character is never split.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use cap_std::fs::{File, Metadata};

use crate::sandbox::error::{Error, Result};
use crate::sandbox::lines::{FileKey, LineStart, Recorder};
use crate::sandbox::root::Kind;
use crate::sandbox::root::open_regular_file;
use crate::sandbox::{Loc, Sandbox};

/// Size of the chunks `tail` reads backward and the forward scan's buffer.
const CHUNK_BYTES: usize = 64 * 1024;

/// Which part of a text file to read. At most one of `head`, `tail` and `offset`/`limit`.
#[derive(Debug, Default, Clone)]
pub struct TextRequest {
    /// The first N lines.
    pub(crate) head: Option<u64>,
    /// The last N lines.
    pub(crate) tail: Option<u64>,
    /// The first line to return, counting from 1.
    pub(crate) offset: Option<u64>,
    /// How many lines to return from `offset` (all remaining if absent).
    pub(crate) limit: Option<u64>,
}

/// Text read from a file.
#[derive(Debug)]
pub struct TextOut {
    /// Where it was read (client-visible path).
    pub(crate) path: String,
    /// The text, exactly as in the file (line endings kept).
    pub text: String,
    /// What part this is and how to get more, when it is not the whole file.
    pub(crate) note: Option<String>,
}

/// Bytes of a file read whole.
#[derive(Debug)]
pub(crate) struct BytesOut {
    /// Where it was read.
    pub(crate) loc: Loc,
    /// The content.
    pub(crate) bytes: Vec<u8>,
}

impl Sandbox {
    /// Reads text from a file: whole (up to `max_read_bytes`), or the part `request` names.
    ///
    /// Errors: the locate/resolve errors, `IsADirectory`, `SpecialFile`, `TooLarge` for a whole
    /// read over the limit, `NotText` for invalid UTF-8 or NUL bytes, `InvalidArgument` for
    /// conflicting options.
    pub fn read_text(&self, input: &str, request: &TextRequest) -> Result<TextOut> {
        let modes = [
            request.head.is_some(),
            request.tail.is_some(),
            request.offset.is_some() || request.limit.is_some(),
        ];
        if modes.iter().filter(|m| **m).count() > 1 {
            return Err(Error::InvalidArgument(
                "use only one of head, tail, or offset/limit in one call".to_owned(),
            ));
        }
        let (loc, file, meta) = self.open_for_read(input)?;
        let path = self.display(&loc);
        let max = self.limits.max_read_bytes;
        let size = meta.len();
        let io_err = |e| Error::io("reading", &path, e);
        let (bytes, note) = if let Some(n) = request.tail {
            tail(file, size, n, max).map_err(io_err)?
        } else if request.head.is_some() || request.offset.is_some() || request.limit.is_some() {
            let first = request.offset.unwrap_or(1).max(1);
            let count = request.head.or(request.limit);
            let key = FileKey::new(&path, &meta);
            let (mut start, mut recorder) = self.lines.start_for(&key, first);
            let mut file = file;
            if let Some(at) = start
                && !starts_a_line(&mut file, at).map_err(io_err)?
            {
                // The file changed without its size or time changing: scan from the start.
                self.lines.forget(&key);
                (start, recorder) = (None, Recorder::off());
            }
            let read = range(file, first, count, max, start, &mut recorder).map_err(io_err)?;
            self.lines.record(&key, recorder);
            read
        } else {
            if size > max {
                return Err(Error::TooLarge {
                    path,
                    size,
                    limit: max,
                    flag: "--max-read-bytes",
                    hint: "read part of it with head, tail, or offset and limit (in lines)",
                });
            }
            let mut bytes = Vec::with_capacity(size as usize);
            file.take(max).read_to_end(&mut bytes).map_err(io_err)?;
            (bytes, None)
        };
        let text =
            into_text(bytes).map_err(|at| Error::NotText { path: path.clone(), at: Some(at) })?;
        Ok(TextOut { path, text, note })
    }

    /// Reads a whole regular file as bytes, refusing files over `limit` (`flag` names the limit's
    /// option in the error).
    pub(crate) fn read_bytes(
        &self,
        input: &str,
        limit: u64,
        flag: &'static str,
    ) -> Result<BytesOut> {
        let (loc, file, meta) = self.open_for_read(input)?;
        let path = self.display(&loc);
        if meta.len() > limit {
            return Err(Error::TooLarge {
                path,
                size: meta.len(),
                limit,
                flag,
                hint: "raise the limit with that flag if you need the whole file",
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit).read_to_end(&mut bytes).map_err(|e| Error::io("reading", &path, e))?;
        Ok(BytesOut { loc, bytes })
    }

    /// Locates, resolves and opens a regular file for reading (never a directory or special file).
    pub(crate) fn open_for_read(&self, input: &str) -> Result<(Loc, File, Metadata)> {
        let (loc, resolved) = self.locate_resolved(input, true)?;
        let path = self.display(&loc);
        let Some(meta) = resolved.meta else { return Err(Error::NotFound { path }) };
        match Kind::of(meta.file_type()) {
            Kind::File => {}
            Kind::Dir => return Err(Error::IsADirectory { path }),
            kind => return Err(Error::SpecialFile { path, kind: kind.name() }),
        }
        // The parent one component at a time, following no link, then the file in it: a swap
        // racing this request (a directory exchanged with a link out of the client's roots)
        // makes the open fail instead of reading what the link points at.
        let root = self.root(&loc);
        let opened = match (loc.rel.parent(), loc.rel.file_name()) {
            (Some(parent), Some(name)) => root
                .open_dir_strict(&parent)
                .and_then(|dir| open_regular_file(&dir, std::path::Path::new(name))),
            _ => Err(io::Error::from(io::ErrorKind::IsADirectory)),
        };
        let (file, meta) = opened.map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput {
                Error::SpecialFile { path: path.clone(), kind: "special file" }
            } else {
                Error::io("opening", &path, e)
            }
        })?;
        Ok((loc, file, meta))
    }
}

/// Decodes UTF-8 text; on failure, the byte offset of the first invalid byte (NUL counts as
/// invalid: it means binary content, not text).
pub(crate) fn into_text(bytes: Vec<u8>) -> std::result::Result<String, u64> {
    if let Some(at) = not_text_at(&bytes) {
        return Err(at);
    }
    String::from_utf8(bytes).map_err(|e| e.utf8_error().valid_up_to() as u64)
}

/// The offset of the first byte that makes `bytes` not UTF-8 text (a NUL or invalid UTF-8), or
/// `None` if it is text.
pub(crate) fn not_text_at(bytes: &[u8]) -> Option<u64> {
    if let Some(nul) = memchr::memchr(0, bytes) {
        return Some(nul as u64);
    }
    std::str::from_utf8(bytes).err().map(|e| e.valid_up_to() as u64)
}

/// Lines `first..first+count` (1-based; all remaining lines when `count` is `None`), at most `max`
/// bytes. Scans forward without keeping skipped lines.
///
/// Long because it is one forward scan that handles both ends of the range, line endings, the
/// byte budget and the cut line in a single pass, without keeping skipped lines.
fn range(
    mut file: File,
    first: u64,
    count: Option<u64>,
    max: u64,
    start: Option<LineStart>,
    recorder: &mut Recorder,
) -> io::Result<(Vec<u8>, Option<String>)> {
    let (mut line, mut at) = start.map_or((1, 0), |s| (s.line, s.offset));
    if at > 0 {
        file.seek(SeekFrom::Start(at))?;
    }
    let mut reader = BufReader::with_capacity(CHUNK_BYTES, file);
    // Skip to the start of line `first`, noting line starts for the index as they pass.
    while line < first {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((Vec::new(), Some(format!("[offset {first} is past the end of the file]"))));
        }
        let mut used = buf.len();
        if recorder.is_on() {
            for pos in memchr::memchr_iter(b'\n', buf) {
                line += 1;
                recorder.saw(line, at + pos as u64 + 1);
                if line == first {
                    used = pos + 1;
                    break;
                }
            }
        } else {
            let wanted = (first - line) as usize;
            match memchr::memchr_iter(b'\n', buf).enumerate().find(|(i, _)| i + 1 == wanted) {
                Some((_, pos)) => {
                    line = first;
                    used = pos + 1;
                }
                None => line += memchr::memchr_iter(b'\n', buf).count() as u64,
            }
        }
        at += used as u64;
        reader.consume(used);
    }
    let mut out = Vec::new();
    let mut taken = 0u64;
    let mut cut = false;
    while count.is_none_or(|c| taken < c) {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (chunk, ends_line) = match memchr::memchr(b'\n', buf) {
            Some(pos) => (&buf[..=pos], true),
            None => (buf, false),
        };
        if out.len() as u64 + chunk.len() as u64 > max {
            let room = (max - out.len() as u64) as usize;
            out.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        out.extend_from_slice(chunk);
        let n = chunk.len();
        reader.consume(n);
        if ends_line {
            taken += 1;
        }
    }
    if cut {
        let keep = cut_point(&out);
        out.truncate(keep);
        let last_full = first + taken;
        let note = format!(
            "[output cut at {max} bytes (--max-read-bytes) inside line {last_full}; continue with offset={last_full} or a smaller limit]"
        );
        return Ok((out, Some(note)));
    }
    let more = !reader.fill_buf()?.is_empty();
    let returned = taken + u64::from(!out.is_empty() && !out.ends_with(b"\n"));
    if returned == 0 {
        return Ok((out, Some(format!("[offset {first} is past the end of the file]"))));
    }
    let last = first + returned - 1;
    let note = if more {
        Some(format!("[lines {first}-{last}; more follow: continue with offset={}]", last + 1))
    } else if first > 1 {
        Some(format!("[lines {first}-{last}; end of file]"))
    } else {
        None
    };
    Ok((out, note))
}

/// Whether the byte before `start` is still a newline (so the indexed line still starts there).
fn starts_a_line(file: &mut File, start: LineStart) -> io::Result<bool> {
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(start.offset - 1))?;
    match file.read_exact(&mut byte) {
        Ok(()) => Ok(byte[0] == b'\n'),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The last `n` lines, at most `max` bytes (whole lines when possible). Reads backward from the
/// end in chunks to find where they start, then forward only what is returned.
fn tail(mut file: File, size: u64, n: u64, max: u64) -> io::Result<(Vec<u8>, Option<String>)> {
    if n == 0 || size == 0 {
        return Ok((Vec::new(), None));
    }
    let mut start = 0u64;
    let mut pos = size;
    let mut newlines = 0u64;
    let mut chunk = vec![0u8; CHUNK_BYTES];
    // A final newline ends the last line; it does not start another.
    let mut skip_final = true;
    'scan: while pos > 0 && size - pos <= max {
        let len = CHUNK_BYTES.min(pos as usize);
        pos -= len as u64;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut chunk[..len])?;
        for idx in memchr::memrchr_iter(b'\n', &chunk[..len]) {
            let at = pos + idx as u64;
            if skip_final && at == size - 1 {
                continue;
            }
            newlines += 1;
            if newlines == n {
                start = at + 1;
                break 'scan;
            }
        }
        skip_final = false;
    }
    let mut note = None;
    if size - start > max {
        // The lines asked for exceed the limit: keep the last whole lines that fit.
        let from = size - max;
        file.seek(SeekFrom::Start(from))?;
        let mut out = Vec::with_capacity(max as usize);
        (&mut file).take(max).read_to_end(&mut out)?;
        let skip = match memchr::memchr(b'\n', &out) {
            Some(p) if p + 1 < out.len() => p + 1,
            _ => first_char_boundary(&out),
        };
        out.drain(..skip);
        note = Some(format!(
            "[only the last {} bytes fit in the {max}-byte limit (--max-read-bytes); fewer lines than asked are shown]",
            out.len()
        ));
        return Ok((out, note));
    }
    file.seek(SeekFrom::Start(start))?;
    let mut out = Vec::with_capacity((size - start) as usize);
    file.take(size - start).read_to_end(&mut out)?;
    if start > 0 {
        note = Some(format!("[the last {n} lines, from byte {start} of {size}]"));
    }
    Ok((out, note))
}

/// Where to cut `bytes` so the kept prefix does not end inside a UTF-8 character: drops an
/// incomplete character at the end, if any. (Invalid bytes elsewhere are reported later.)
fn cut_point(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        _ => bytes.len(),
    }
}

/// The first offset in `bytes` that starts a UTF-8 character (skipping continuation bytes).
fn first_char_boundary(bytes: &[u8]) -> usize {
    bytes.iter().take(4).position(|b| b & 0xC0 != 0x80).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_point_never_splits_a_character() {
        let text = "aé€😀";
        let bytes = text.as_bytes();
        for len in 0..=bytes.len() {
            let keep = cut_point(&bytes[..len]);
            assert!(text.is_char_boundary(keep), "len {len} keep {keep}");
            assert!(keep <= len);
            assert!(len - keep < 4);
        }
    }

    #[test]
    fn first_char_boundary_skips_continuations() {
        let bytes = "é€".as_bytes();
        assert_eq!(first_char_boundary(&bytes[1..]), 1);
        assert_eq!(first_char_boundary(bytes), 0);
    }

    #[test]
    fn into_text_reports_offsets() {
        assert_eq!(into_text(b"ok".to_vec()), Ok("ok".to_owned()));
        assert_eq!(into_text(b"ab\0".to_vec()), Err(2));
        assert_eq!(into_text(vec![b'a', 0xff]), Err(1));
    }
}
