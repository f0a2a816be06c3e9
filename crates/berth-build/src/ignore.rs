//! `.dockerignore`: docker's pattern rules (moby's `patternmatcher` and the CLI's reading of
//! the file) as a matcher over paths relative to the context root.
//!
//! Lines are trimmed; `#` lines and empty lines are skipped; `!` makes an exception; patterns
//! are cleaned like Go's `filepath.Clean` (so `./a` is `a`, `a/../b` is `b`) and a leading `/`
//! is dropped. `*` matches within one path element, `?` one character, `[...]` a class, `\`
//! escapes, and `**` any number of elements. A path is excluded when the last pattern that
//! matches it, or one of its parent directories, is not an exception. The Dockerfile and
//! `.dockerignore` themselves are never excluded from what the builder receives.

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    keep: Vec<String>,
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exception: bool,
    elements: Vec<Element>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    /// `**`: any number of path elements.
    Any,
    /// One path element's glob.
    Glob(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    Question,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Go's `filepath.Clean` of a relative or absolute slash path.
fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

impl Ignore {
    /// Reads a `.dockerignore`. `dockerfile` is the Dockerfile's path in the context (never
    /// excluded, nor is `.dockerignore`).
    pub fn parse(content: &[u8], dockerfile: &str) -> Ignore {
        let text = String::from_utf8_lossy(content);
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        Ignore::from_patterns(&lines, dockerfile)
    }

    /// Builds a matcher from pattern lines.
    pub fn from_patterns(lines: &[String], dockerfile: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in lines {
            let mut p = line.trim();
            if p.is_empty() || p.starts_with('#') {
                continue;
            }
            let mut exception = false;
            if let Some(rest) = p.strip_prefix('!') {
                exception = true;
                p = rest.trim();
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned = cleaned.chars().skip(1).collect();
            }
            let elements = compile(&cleaned);
            patterns.push(Pattern {
                text: cleaned,
                exception,
                elements,
            });
        }
        let keep = vec![
            clean(dockerfile.trim_start_matches('/')),
            ".dockerignore".to_string(),
        ];
        Ignore { patterns, keep }
    }

    /// The patterns as cleaned (`!` for exceptions).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out of the
    /// context sent to the builder.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        if self.keep.contains(&path) {
            return false;
        }
        let elems: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            let mut hit = match_elements(&p.elements, &elems);
            if !hit {
                for n in 1..elems.len() {
                    if match_elements(&p.elements, elems.get(..n).unwrap_or_default()) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether a directory can be skipped whole: it is excluded and no exception could
    /// bring back anything under it.
    pub fn skip_dir(&self, dir: &str) -> bool {
        self.excluded(dir) && !self.patterns.iter().any(|p| p.exception)
    }
}

fn compile(pattern: &str) -> Vec<Element> {
    pattern
        .split('/')
        .map(|e| {
            if e == "**" {
                Element::Any
            } else {
                Element::Glob(tokens(e))
            }
        })
        .collect()
}

fn tokens(elem: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = elem.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push(Token::Star);
            }
            '?' => out.push(Token::Question),
            '\\' => match chars.next() {
                Some(n) => out.push(Token::Char(n)),
                None => out.push(Token::Char('\\')),
            },
            '[' => {
                let rest: String = chars.clone().collect();
                match class(&rest) {
                    Some((tok, used)) => {
                        for _ in 0..used {
                            chars.next();
                        }
                        out.push(tok);
                    }
                    None => out.push(Token::Char('[')),
                }
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

/// A `[...]` class after the `[`: the token and how many chars it used (the `]` included).
fn class(rest: &str) -> Option<(Token, usize)> {
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    let negated = matches!(chars.first(), Some('^' | '!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i)?
        } else {
            c
        };
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            let mut hi = *chars.get(i + 1)?;
            i += 2;
            if hi == '\\' {
                hi = *chars.get(i)?;
                i += 1;
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// Whether the element patterns match the path elements (`**` takes any number of them):
/// a table over (pattern, path) positions, so no pattern makes it exponential.
fn match_elements(pattern: &[Element], path: &[&str]) -> bool {
    let chars: Vec<Vec<char>> = path.iter().map(|e| e.chars().collect()).collect();
    // ok[j]: the first i pattern elements match the first j path elements.
    let mut ok = vec![false; path.len() + 1];
    ok[0] = true;
    for el in pattern {
        let mut next = vec![false; path.len() + 1];
        match el {
            Element::Any => {
                let mut reached = false;
                for j in 0..=path.len() {
                    reached |= ok[j];
                    next[j] = reached;
                }
            }
            Element::Glob(toks) => {
                for j in 0..path.len() {
                    if ok[j] && match_glob(toks, &chars[j]) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        ok = next;
    }
    ok[path.len()]
}

fn token_matches(tok: &Token, c: char) -> bool {
    match tok {
        Token::Char(t) => *t == c,
        Token::Question | Token::Star => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
        }
    }
}

/// One element's glob: the usual wildcard walk that backtracks only to the last `*`.
fn match_glob(toks: &[Token], s: &[char]) -> bool {
    let (mut t, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(t) {
            Some(Token::Star) => {
                star = Some((t, i));
                t += 1;
            }
            Some(tok) if token_matches(tok, s[i]) => {
                t += 1;
                i += 1;
            }
            _ => match star {
                Some((st, si)) => {
                    t = st + 1;
                    i = si + 1;
                    star = Some((st, si + 1));
                }
                None => return false,
            },
        }
    }
    toks.get(t..)
        .unwrap_or_default()
        .iter()
        .all(|tok| *tok == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(lines: &[&str]) -> Ignore {
        let v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        Ignore::from_patterns(&v, "Dockerfile")
    }

    #[test]
    fn simple_and_parents() {
        let i = ig(&["node_modules", "*.log", "# comment", "", "  tmp/  "]);
        assert!(i.excluded("node_modules"));
        assert!(i.excluded("node_modules/a/b.js"));
        assert!(i.excluded("x.log"));
        assert!(!i.excluded("sub/x.log"), "* stays in one element");
        assert!(i.excluded("tmp/file"));
        assert!(!i.excluded("src/main.rs"));
        assert!(!i.excluded("# comment"));
    }

    #[test]
    fn double_star() {
        let i = ig(&["**/*.log", "a/**/b"]);
        assert!(i.excluded("x.log"));
        assert!(i.excluded("deep/down/x.log"));
        assert!(i.excluded("a/b"));
        assert!(i.excluded("a/x/y/b"));
        assert!(i.excluded("a/x/b/c"));
        assert!(!i.excluded("a/x/c"));
        let all = ig(&["**"]);
        assert!(all.excluded("anything/at/all"));
    }

    #[test]
    fn exceptions_last_match_wins() {
        let i = ig(&["*.md", "!README.md", "README*.md"]);
        assert!(i.excluded("CHANGES.md"));
        assert!(i.excluded("README.md"));
        let j = ig(&["docs", "!docs/keep.txt"]);
        assert!(j.excluded("docs/a.txt"));
        assert!(!j.excluded("docs/keep.txt"));
        assert!(!j.skip_dir("docs"));
    }

    #[test]
    fn cleanup_and_leading_slash() {
        let i = ig(&["./build/", "/dist", "a/../secret", "x/./y"]);
        assert_eq!(i.patterns(), vec!["build", "dist", "secret", "x/y"]);
        assert!(i.excluded("build/out"));
        assert!(i.excluded("dist"));
        assert!(i.excluded("secret"));
        assert!(i.excluded("./x/y"));
    }

    #[test]
    fn classes_and_escapes() {
        let i = ig(&["file[0-9].txt", "q?.c", r"star\*", "[!a]z"]);
        assert!(i.excluded("file3.txt"));
        assert!(!i.excluded("filex.txt"));
        assert!(i.excluded("q1.c"));
        assert!(!i.excluded("q12.c"));
        assert!(i.excluded("star*"));
        assert!(!i.excluded("starx"));
        assert!(i.excluded("bz"));
        assert!(!i.excluded("az"));
    }

    #[test]
    fn no_exponential_patterns() {
        let i = ig(&["*a*a*a*a*a*a*a*a*a*a*b", "**/**/**/**/**/**/**/**/x"]);
        let long = "a".repeat(200);
        assert!(!i.excluded(&long));
        let deep = vec!["d"; 100].join("/");
        assert!(!i.excluded(&deep));
        assert!(i.excluded(&format!("{deep}/x")));
    }

    #[test]
    fn dockerfile_and_dockerignore_kept() {
        let i = Ignore::parse(b"*\n", "build/Dockerfile.dev");
        assert!(i.excluded("src"));
        assert!(!i.excluded("build/Dockerfile.dev"));
        assert!(!i.excluded(".dockerignore"));
    }
}
