//! Bounded replacements for SQLite's text functions whose cost is the product of their
//! arguments' lengths: `instr`, `replace`, `like`, `glob` and the two-argument `trim`, `ltrim`
//! and `rtrim`.
//!
//! SQLite's timeout and cancellation work through the progress handler, which runs between
//! virtual-machine steps. One call of a built-in function is one step, however long it runs:
//! `instr` of a 2 MB string and a 1 MB one ran 34 s, a `LIKE` with a 49,000-character pattern
//! 66 s, and neither the timeout nor a cancel could stop them. These replacements keep SQLite's
//! results (a unit test compares them with the built-ins over a table of inputs) but run in
//! linear time where that is possible (`instr`, `replace`, `trim`: substring search with `memchr`,
//! character sets) and, where matching is inherently a product (`like`, `glob` with wildcards),
//! check the call's deadline and cancel flag every few thousand steps and stop the statement
//! with `INTERRUPTED`, which `Session` reports as the timeout or the cancellation it is.
//!
//! Why replacements rather than the alternatives the issue lists: tighter length limits would
//! still allow a quadratic minute within them, or refuse ordinary data; a worker process per
//! database would add a process and IPC to every query.
//!
//! Imports nothing from the crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use memchr::memmem;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Error, Result};

/// How many matching steps run between two looks at the deadline and the cancel flag.
const STEPS_PER_CHECK: u32 = 1 << 14;

/// The message of the error a function stops with; `Session` recognises it.
pub(crate) const INTERRUPTED: &str = "interrupted: the call reached its deadline or was cancelled";

/// The running call's deadline and cancel flag, as the progress handler sees them.
pub(crate) type Deadline = Arc<std::sync::Mutex<Option<(Instant, Arc<AtomicBool>)>>>;

/// Registers the replacements on `conn`. `deadline` is read while they run; no result may be
/// longer than `max_len` bytes (`SQLITE_LIMIT_LENGTH`, checked before it is built).
pub(crate) fn register(conn: &Connection, deadline: &Deadline, max_len: usize) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("instr", 2, flags, |ctx| instr(ctx))?;
    conn.create_scalar_function("replace", 3, flags, move |ctx| replace(ctx, max_len))?;
    for (name, which) in [("trim", Trim::Both), ("ltrim", Trim::Left), ("rtrim", Trim::Right)] {
        conn.create_scalar_function(name, 2, flags, move |ctx| trim(ctx, which))?;
    }
    for n_arg in [2, 3] {
        let watch = Arc::clone(deadline);
        conn.create_scalar_function("like", n_arg, flags, move |ctx| like(ctx, &watch))?;
    }
    let watch = Arc::clone(deadline);
    conn.create_scalar_function("glob", 2, flags, move |ctx| glob(ctx, &watch))?;
    Ok(())
}

/// An argument as SQLite's text functions see it: `None` for NULL, else its bytes (numbers in
/// their text form) and whether it was a BLOB.
fn arg(ctx: &Context<'_>, idx: usize) -> Option<(Vec<u8>, bool)> {
    match ctx.get_raw(idx) {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some((i.to_string().into_bytes(), false)),
        ValueRef::Real(r) => Some((real_text(r).into_bytes(), false)),
        ValueRef::Text(t) => Some((t.to_vec(), false)),
        ValueRef::Blob(b) => Some((b.to_vec(), true)),
    }
}

/// A REAL as SQLite writes it as text. Its digit generation is its own (17 significant digits
/// when 15 do not round-trip, `.0` on whole numbers, an exponent from 1e17 on), so SQLite itself
/// does the conversion, on an in-memory connection of this thread's own.
fn real_text(r: f64) -> String {
    thread_local! {
        static CONVERTER: Option<Connection> = Connection::open_in_memory().ok();
    }
    CONVERTER.with(|conn| {
        conn.as_ref()
            .and_then(|c| c.query_row("SELECT CAST(?1 AS TEXT)", [r], |row| row.get(0)).ok())
            .unwrap_or_else(|| r.to_string())
    })
}

fn text(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Text(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// `instr(X, Y)`: the 1-based position of the first `Y` in `X` (in characters, or in bytes when
/// both are BLOBs), 0 if absent, NULL if either is NULL. Linear.
fn instr(ctx: &Context<'_>) -> Result<Value> {
    let (Some((haystack, h_blob)), Some((needle, n_blob))) = (arg(ctx, 0), arg(ctx, 1)) else {
        return Ok(Value::Null);
    };
    let Some(at) = memmem::find(&haystack, &needle) else { return Ok(Value::Integer(0)) };
    let position = if h_blob && n_blob {
        at
    } else {
        // Characters before the match: the bytes that do not continue a UTF-8 sequence.
        haystack[..at].iter().filter(|&&b| (b & 0xC0) != 0x80).count()
    };
    Ok(Value::Integer(position as i64 + 1))
}

/// `replace(X, Y, Z)`: every `Y` in `X` replaced by `Z`; `X` unchanged when `Y` is empty. Linear;
/// a result over `max_len` is "string or blob too big", as SQLite's own.
fn replace(ctx: &Context<'_>, max_len: usize) -> Result<Value> {
    let (Some((input, _)), Some((from, _)), Some((to, _))) =
        (arg(ctx, 0), arg(ctx, 1), arg(ctx, 2))
    else {
        return Ok(Value::Null);
    };
    if from.is_empty() {
        return Ok(text(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut last = 0;
    for at in memmem::find_iter(&input, &from) {
        out.extend_from_slice(&input[last..at]);
        out.extend_from_slice(&to);
        last = at + from.len();
        if out.len() > max_len {
            return Err(Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
                Some("string or blob too big".to_owned()),
            ));
        }
    }
    out.extend_from_slice(&input[last..]);
    Ok(text(out))
}

#[derive(Clone, Copy)]
enum Trim {
    Both,
    Left,
    Right,
}

/// `trim(X, Y)`, `ltrim`, `rtrim`: the characters of `Y` removed from the ends of `X`. Linear.
fn trim(ctx: &Context<'_>, which: Trim) -> Result<Value> {
    let (Some((input, _)), Some((chars, _))) = (arg(ctx, 0), arg(ctx, 1)) else {
        return Ok(Value::Null);
    };
    let input = String::from_utf8_lossy(&input).into_owned();
    let set: std::collections::HashSet<char> = String::from_utf8_lossy(&chars).chars().collect();
    let kept = match which {
        Trim::Both => input.trim_matches(|c| set.contains(&c)),
        Trim::Left => input.trim_start_matches(|c| set.contains(&c)),
        Trim::Right => input.trim_end_matches(|c| set.contains(&c)),
    };
    Ok(Value::Text(kept.to_owned()))
}

/// One element of a LIKE or GLOB pattern.
#[derive(Debug, Clone)]
enum Token {
    /// This character (compared case-insensitively for ASCII in LIKE).
    Char(char),
    /// Any one character (`_`, `?`).
    One,
    /// Any run of characters (`%`, `*`).
    Many,
    /// A GLOB character class: ranges, and whether it is negated.
    Class(Vec<(char, char)>, bool),
}

/// Matches with the wildcard algorithm that backtracks only to the last `Many`: steps are at most
/// the product of the lengths, and the deadline is checked as they go.
fn matches(tokens: &[Token], text: &[char], fold: bool, watch: &Deadline) -> Result<bool> {
    let same = |p: char, c: char| {
        if fold { p.eq_ignore_ascii_case(&c) } else { p == c }
    };
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let mut steps = 0u32;
    loop {
        steps += 1;
        if steps == STEPS_PER_CHECK {
            steps = 0;
            check(watch)?;
        }
        if p < tokens.len() {
            match &tokens[p] {
                Token::Many => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                token if t < text.len() => {
                    let ok = match token {
                        Token::Char(c) => same(*c, text[t]),
                        Token::One => true,
                        Token::Class(ranges, negated) => {
                            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&text[t])) != *negated
                        }
                        Token::Many => unreachable!("handled above"),
                    };
                    if ok {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                _ => {}
            }
        } else if t == text.len() {
            return Ok(true);
        }
        // Mismatch: let the last `Many` take one more character, or fail.
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return Ok(false),
        }
    }
}

/// Stops the statement once the call is past its deadline or cancelled.
fn check(watch: &Deadline) -> Result<()> {
    let current = watch.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((deadline, cancel)) = &*current
        && (cancel.load(Ordering::Relaxed) || Instant::now() >= *deadline)
    {
        return Err(Error::UserFunctionError(INTERRUPTED.into()));
    }
    Ok(())
}

/// `X LIKE Y [ESCAPE Z]`, called as `like(Y, X[, Z])`: `%` and `_` wildcards, ASCII letters
/// compared without case, `Z` (one character) escaping the next pattern character.
fn like(ctx: &Context<'_>, watch: &Deadline) -> Result<Value> {
    let (Some((pattern, _)), Some((value, _))) = (arg(ctx, 0), arg(ctx, 1)) else {
        return Ok(Value::Null);
    };
    let escape = if ctx.len() == 3 {
        let Some((escape, _)) = arg(ctx, 2) else { return Ok(Value::Null) };
        let escape = String::from_utf8_lossy(&escape).into_owned();
        let mut chars = escape.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ => {
                return Err(Error::UserFunctionError(
                    "ESCAPE expression must be a single character".into(),
                ));
            }
        }
    } else {
        None
    };
    let mut tokens = Vec::new();
    let pattern = String::from_utf8_lossy(&pattern).into_owned();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            c if Some(c) == escape => match chars.next() {
                Some(next) => Token::Char(next),
                None => return Ok(Value::Integer(0)),
            },
            '%' => Token::Many,
            '_' => Token::One,
            c => Token::Char(c),
        });
    }
    collapse(&mut tokens);
    let value: Vec<char> = String::from_utf8_lossy(&value).chars().collect();
    Ok(Value::Integer(i64::from(matches(&tokens, &value, true, watch)?)))
}

/// `X GLOB Y`, called as `glob(Y, X)`: `*`, `?` and `[...]` classes (`^` negates, `a-z` ranges,
/// `]` first is literal), case-sensitive.
fn glob(ctx: &Context<'_>, watch: &Deadline) -> Result<Value> {
    let (Some((pattern, _)), Some((value, _))) = (arg(ctx, 0), arg(ctx, 1)) else {
        return Ok(Value::Null);
    };
    let pattern: Vec<char> = String::from_utf8_lossy(&pattern).chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        let c = pattern[i];
        i += 1;
        tokens.push(match c {
            '*' => Token::Many,
            '?' => Token::One,
            '[' => {
                let mut negated = false;
                if pattern.get(i) == Some(&'^') {
                    negated = true;
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(&c) = pattern.get(i) else {
                        // An unclosed class matches nothing (as SQLite).
                        return Ok(Value::Integer(0));
                    };
                    i += 1;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    if pattern.get(i) == Some(&'-') && pattern.get(i + 1).is_some_and(|&n| n != ']')
                    {
                        ranges.push((c, pattern[i + 1]));
                        i += 2;
                    } else {
                        ranges.push((c, c));
                    }
                }
                Token::Class(ranges, negated)
            }
            c => Token::Char(c),
        });
    }
    collapse(&mut tokens);
    let value: Vec<char> = String::from_utf8_lossy(&value).chars().collect();
    Ok(Value::Integer(i64::from(matches(&tokens, &value, false, watch)?)))
}

/// Runs of `Many` are one `Many`.
fn collapse(tokens: &mut Vec<Token>) {
    tokens.dedup_by(|b, a| matches!((a, b), (Token::Many, Token::Many)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our functions give what SQLite's built-ins give.
    #[test]
    fn replacements_agree_with_the_builtins() {
        let builtin = Connection::open_in_memory().unwrap();
        let ours = Connection::open_in_memory().unwrap();
        let deadline: Deadline = Arc::default();
        register(&ours, &deadline, 1 << 30).unwrap();
        let cases = [
            "instr('hello world', 'o')",
            "instr('hello', '')",
            "instr('', 'x')",
            "instr('ünïcödé', 'cö')",
            "instr(x'00010203', x'0203')",
            "instr('abc', NULL)",
            "instr(12345, 34)",
            "instr(1.5, '5')",
            "instr(1.0 / 3, '33')",
            "instr(1e16, '.0')",
            "replace(0.1, '.', ',')",
            "1e17 LIKE '1.0e+17'",
            "replace('aaaa', 'aa', 'b')",
            "replace('abc', '', 'x')",
            "replace('héllo', 'é', 'e')",
            "replace(NULL, 'a', 'b')",
            "replace(12321, 2, 'x')",
            "trim('xxhixx', 'x')",
            "ltrim('  hi  ', ' ')",
            "rtrim('abcba', 'ab')",
            "trim('äbä', 'ä')",
            "'Hello' LIKE 'h%'",
            "'Hello' LIKE 'H_LLO'",
            "'Hello' LIKE '%ll%'",
            "'Hello' LIKE '%x%'",
            "'ÄB' LIKE 'äb'",
            "'50%' LIKE '50!%' ESCAPE '!'",
            "'500' LIKE '50!%' ESCAPE '!'",
            "'a_c' LIKE 'a!_c' ESCAPE '!'",
            "'' LIKE ''",
            "'' LIKE '%'",
            "'abc' LIKE '%%%c'",
            "NULL LIKE 'a'",
            "123 LIKE '1%'",
            "'Hello' GLOB 'H*'",
            "'Hello' GLOB 'h*'",
            "'Hello' GLOB 'H?llo'",
            "'Hello' GLOB '[A-Z]ello'",
            "'hello' GLOB '[^A-Z]ello'",
            "'a]b' GLOB 'a[]]b'",
            "'a-b' GLOB 'a[-]b'",
            "'abc' GLOB '*[bc]'",
            "'abc' GLOB '[a'",
            "'x' GLOB ''",
        ];
        for case in cases {
            let sql = format!("SELECT quote({case})");
            let expected: String = builtin.query_row(&sql, [], |r| r.get(0)).unwrap();
            let got: String = ours.query_row(&sql, [], |r| r.get(0)).unwrap();
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn a_quadratic_like_stops_at_its_deadline() {
        let conn = Connection::open_in_memory().unwrap();
        let deadline: Deadline = Arc::default();
        register(&conn, &deadline, 1 << 30).unwrap();
        *deadline.lock().unwrap() = Some((
            Instant::now() + std::time::Duration::from_millis(200),
            Arc::new(AtomicBool::new(false)),
        ));
        let err = conn
            .query_row(
                "SELECT printf('%.*c', 200000, 'a') LIKE ('%' || printf('%.*c', 20000, 'a') || 'b%')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err();
        assert!(err.to_string().contains(INTERRUPTED), "{err}");
    }
}
