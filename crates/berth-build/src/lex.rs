//! Docker's word processing (moby's `frontend/dockerfile/shell` lexer): quotes, the escape
//! character and `$VAR` / `${VAR}` / `${VAR:-word}` / `${VAR:+word}` / `${VAR-word}` /
//! `${VAR+word}` / `${VAR:?msg}` / `${VAR?msg}` expansion, as the builder applies it to the
//! arguments of ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, COPY, ADD and FROM.
//! The pattern operators of newer BuildKit (`${VAR#p}`, `${VAR%p}`, `${VAR/a/b}`) are refused.

use std::iter::Peekable;
use std::str::Chars;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${` without its `}`.
    #[error("missing '}}' in {word:?}")]
    MissingBrace {
        /// The word being expanded.
        word: String,
    },
    /// `${}` or `${` followed by something that is not a name.
    #[error("bad substitution in {word:?}")]
    BadSubstitution {
        /// The word being expanded.
        word: String,
    },
    /// A modifier docker's builder does not know (or one of BuildKit's pattern operators).
    #[error("unsupported modifier ({modifier}) in substitution {word:?}")]
    UnsupportedModifier {
        /// The modifier character.
        modifier: char,
        /// The word being expanded.
        word: String,
    },
    /// A quote opened and never closed.
    #[error("unexpected end of statement while looking for matching {quote} in {word:?}")]
    UnterminatedQuote {
        /// The quote character.
        quote: char,
        /// The word being expanded.
        word: String,
    },
    /// `${VAR:?message}` / `${VAR?message}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message given in the word (or docker's default).
        message: String,
    },
}

/// The variables visible to an expansion: docker's list of `KEY=VALUE` strings, where the
/// first entry for a key wins, and an entry without `=` is a key set to the empty string.
pub trait Vars {
    /// The value of `name`, `None` when unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [String] {
    fn get(&self, name: &str) -> Option<String> {
        for entry in self {
            match entry.split_once('=') {
                Some((k, v)) if k == name => return Some(v.to_string()),
                None if entry == name => return Some(String::new()),
                _ => {}
            }
        }
        None
    }
}

impl Vars for Vec<String> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// No variables at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVars;

impl Vars for NoVars {
    fn get(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Processes one word as docker's `ProcessWord` does: quotes removed, escapes applied,
/// variables expanded; whitespace outside quotes is kept as it is.
pub fn process_word(word: &str, vars: &dyn Vars, escape: char) -> Result<String, ExpandError> {
    let mut lexer = Lexer {
        chars: word.chars().peekable(),
        word,
        vars,
        escape,
    };
    lexer.process_until(None)
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    word: &'a str,
    vars: &'a dyn Vars,
    escape: char,
}

impl Lexer<'_> {
    /// Processes up to `stop` (consumed) or the end of the word.
    fn process_until(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(&ch) = self.chars.peek() {
            if Some(ch) == stop {
                self.chars.next();
                return Ok(out);
            }
            self.chars.next();
            match ch {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => {
                    // The escape keeps the next character literally; one at the end is dropped.
                    if let Some(next) = self.chars.next() {
                        out.push(next);
                    }
                }
                c => out.push(c),
            }
        }
        if stop.is_some() {
            return Err(ExpandError::MissingBrace {
                word: self.word.to_string(),
            });
        }
        Ok(out)
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        for ch in self.chars.by_ref() {
            if ch == '\'' {
                return Ok(out);
            }
            out.push(ch);
        }
        Err(ExpandError::UnterminatedQuote {
            quote: '\'',
            word: self.word.to_string(),
        })
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(ch) = self.chars.next() {
            match ch {
                '"' => return Ok(out),
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => match self.chars.peek() {
                    Some(&n) if n == '"' || n == '$' || n == self.escape => {
                        self.chars.next();
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                c => out.push(c),
            }
        }
        Err(ExpandError::UnterminatedQuote {
            quote: '"',
            word: self.word.to_string(),
        })
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(&c) = self.chars.peek() {
            if c.is_ascii_digit() {
                while let Some(&d) = self.chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    name.push(d);
                    self.chars.next();
                }
                return name;
            }
        }
        while let Some(&c) = self.chars.peek() {
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.chars.next();
        }
        name
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.chars.peek() != Some(&'{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.vars.get(&name).unwrap_or_default());
        }
        self.chars.next();
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution {
                word: self.word.to_string(),
            });
        }
        let value = self.vars.get(&name);
        match self.chars.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = self.chars.next();
                match modifier {
                    Some(m @ ('-' | '+' | '?')) => {
                        let word = self.process_until(Some('}'))?;
                        let set = value.as_deref().is_some_and(|v| !v.is_empty());
                        Ok(apply(m, &name, value, set, word)?)
                    }
                    Some(m) => Err(ExpandError::UnsupportedModifier {
                        modifier: m,
                        word: self.word.to_string(),
                    }),
                    None => Err(ExpandError::MissingBrace {
                        word: self.word.to_string(),
                    }),
                }
            }
            Some(m @ ('-' | '+' | '?')) => {
                let word = self.process_until(Some('}'))?;
                let set = value.is_some();
                Ok(apply(m, &name, value, set, word)?)
            }
            Some(m) => Err(ExpandError::UnsupportedModifier {
                modifier: m,
                word: self.word.to_string(),
            }),
            None => Err(ExpandError::MissingBrace {
                word: self.word.to_string(),
            }),
        }
    }
}

fn apply(
    modifier: char,
    name: &str,
    value: Option<String>,
    set: bool,
    word: String,
) -> Result<String, ExpandError> {
    match modifier {
        '-' => Ok(if set { value.unwrap_or_default() } else { word }),
        '+' => Ok(if set { word } else { String::new() }),
        _ => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                let message = if word.is_empty() {
                    "is not allowed to be unset".to_string()
                } else {
                    word
                };
                Err(ExpandError::Required {
                    name: name.to_string(),
                    message,
                })
            }
        }
    }
}

/// Splits a line into words the way the parser does for ENV, LABEL and ARG (moby's
/// `parseWords`): whitespace separates words except inside quotes; quotes and escapes are kept
/// in the words (the expansion removes them later); an escape at the very end is dropped.
pub(crate) fn split_words_raw(line: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
                word.push(ch);
                continue;
            }
            if ch == escape && q != '\'' {
                match chars.next() {
                    Some(n) => {
                        word.push(ch);
                        word.push(n);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            word.clear();
            in_word = false;
            blank_ok = false;
            continue;
        }
        in_word = true;
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
            word.push(ch);
            continue;
        }
        if ch == escape {
            if let Some(n) = chars.next() {
                word.push(ch);
                word.push(n);
            }
            continue;
        }
        word.push(ch);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Docker's regexp `[\t\v\f\r ]+` split of a trimmed string.
pub(crate) fn split_whitespace_docker(s: &str) -> Vec<String> {
    s.split(is_docker_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The whitespace of docker's `[\t\v\f\r ]` class.
pub(crate) fn is_docker_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<String> {
        vec![
            "A=a".into(),
            "E=".into(),
            "SP=x y".into(),
            "A=shadowed".into(),
        ]
    }

    fn x(s: &str) -> String {
        process_word(s, &env(), '\\').unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(x("$A"), "a");
        assert_eq!(x("${A}"), "a");
        assert_eq!(x("$A.b"), "a.b");
        assert_eq!(x("${A}b"), "ab");
        assert_eq!(x("$Ab"), "");
        assert_eq!(x("$UNSET"), "");
        assert_eq!(x("$"), "$");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$-x"), "$-x");
        assert_eq!(x("${SP}"), "x y");
    }

    #[test]
    fn operators() {
        assert_eq!(x("${A:-d}"), "a");
        assert_eq!(x("${E:-d}"), "d");
        assert_eq!(x("${U:-d}"), "d");
        assert_eq!(x("${E-d}"), "");
        assert_eq!(x("${U-d}"), "d");
        assert_eq!(x("${A:+w}"), "w");
        assert_eq!(x("${E:+w}"), "");
        assert_eq!(x("${E+w}"), "w");
        assert_eq!(x("${U+w}"), "");
        assert_eq!(x("${U:-$A}"), "a");
        assert_eq!(x("${U:-${E:-deep}}"), "deep");
        assert_eq!(x("${A:?no}"), "a");
        assert_eq!(x("${U:?needed}"), "ERR U: needed");
        assert_eq!(x("${E?x}"), "");
        assert!(x("${A").starts_with("ERR missing"));
        assert!(x("${}").starts_with("ERR bad substitution"));
        assert!(x("${A#x}").starts_with("ERR unsupported modifier (#)"));
        assert!(x("${A:=x}").starts_with("ERR unsupported modifier (=)"));
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x(r#""$A b""#), "a b");
        assert_eq!(x("'$A b'"), "$A b");
        assert_eq!(x(r"\$A"), "$A");
        assert_eq!(x(r"a\ b"), "a b");
        assert_eq!(x(r#""a\"b""#), "a\"b");
        assert_eq!(x(r#""a\nb""#), "a\\nb");
        assert_eq!(x(r#""\$A""#), "$A");
        assert_eq!(x(r"end\"), "end");
        assert!(x("'open").starts_with("ERR unexpected end"));
        assert!(x("\"open").starts_with("ERR unexpected end"));
    }

    #[test]
    fn backtick_escape() {
        let e = env();
        assert_eq!(process_word("`$A", &e, '`').ok(), Some("$A".into()));
        assert_eq!(
            process_word(r"C:\dir\$A", &e, '`').ok(),
            Some(r"C:\dir\a".into())
        );
    }

    #[test]
    fn raw_words() {
        assert_eq!(
            split_words_raw(r#"a="x y" b=c\ d 'e f'"#, '\\'),
            vec![r#"a="x y""#, r"b=c\ d", "'e f'"]
        );
        assert_eq!(split_words_raw(r#""" x"#, '\\'), vec![r#""""#, "x"]);
        assert_eq!(split_words_raw("a\\", '\\'), vec!["a"]);
    }
}
