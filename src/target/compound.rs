//! Compound expressions (`-C`, and nodegroup definitions): Salt's boolean
//! language over matcher words, parsed into a tree once instead of being
//! rewritten to Python and `eval`ed per host as Salt does.
//!
//! What Salt accepts, and so what we accept:
//! - words are split on whitespace; `and`, `or`, `not`, `(` and `)` are
//!   operators (lowercase only, as in Salt);
//! - Python precedence: `not` binds tighter than `and`, `and` than `or`;
//! - a leading `not` is allowed (`not web*`), and a `not` right after an
//!   operand or `)` gets an implicit `and` (`web* not web1`), which is also
//!   why Salt rejects `not not`;
//! - `G@`/`P@` (grains), `I@`/`J@` (pillar), `E@` (pcre), `L@` (list),
//!   `S@` (ipcidr), `N@` (nodegroup, expanded in place); a word without
//!   prefix is a glob;
//! - `G`, `P`, `I` and `J` take an alternate delimiter before the `@`:
//!   `G|@url|http://x:8080/*`.
//!
//! Where Salt would evaluate to False (or crash in `eval`) we return a parse
//! error naming the problem: leading `and`/`or`, `and`/`or` after `(`, two
//! operands without an operator, unbalanced or empty parentheses, dangling
//! operators, unknown engines. Salt needs parentheses to be separate words;
//! we also split them off words (`(web* or db*)`), only as far as they are
//! unbalanced within the word, so `E@web(1|2)` keeps its group.

use super::{Builder, Node};
use crate::target::TargetError;

/// Deep enough for any hand-written expression, shallow enough that the
/// recursive descent cannot exhaust a thread's stack.
pub(super) const MAX_DEPTH: usize = 64;

/// A parse failure: either about the expression being parsed, or an already
/// complete error from a nodegroup it references.
pub(super) enum Failure {
    Here(String),
    Nested(TargetError),
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Here(reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Word(&'a str),
}

impl Tok<'_> {
    fn show(&self) -> String {
        match self {
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::And => "`and`".to_string(),
            Tok::Or => "`or`".to_string(),
            Tok::Not => "`not`".to_string(),
            Tok::Word(w) => format!("`{w}`"),
        }
    }
}

fn operator(word: &str) -> Option<Tok<'_>> {
    match word {
        "and" => Some(Tok::And),
        "or" => Some(Tok::Or),
        "not" => Some(Tok::Not),
        "(" => Some(Tok::LParen),
        ")" => Some(Tok::RParen),
        _ => None,
    }
}

/// True when `word` is one of Salt's compound operators.
pub(super) fn is_operator(word: &str) -> bool {
    operator(word).is_some()
}

fn tokenize(expr: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    for word in expr.split_whitespace() {
        if let Some(op) = operator(word) {
            toks.push(op);
            continue;
        }
        let body = word.trim_start_matches('(');
        for _ in 0..(word.len() - body.len()) {
            toks.push(Tok::LParen);
        }
        let excess = unbalanced_closing(body);
        let trailing = body.len() - body.trim_end_matches(')').len();
        let peel = excess.min(trailing);
        let core = &body[..body.len() - peel];
        if !core.is_empty() {
            toks.push(operator(core).unwrap_or(Tok::Word(core)));
        }
        for _ in 0..peel {
            toks.push(Tok::RParen);
        }
    }
    toks
}

/// How many more `)` than `(` a word has, ignoring backslash-escaped ones
/// (`E@a\)` is a regex for "a)", not a closing parenthesis).
fn unbalanced_closing(word: &str) -> usize {
    let (mut open, mut close) = (0usize, 0usize);
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => open += 1,
            ')' => close += 1,
            _ => {}
        }
    }
    close.saturating_sub(open)
}

/// Parse a compound expression; `depth` is the nesting already used by the
/// nodegroups that led here.
pub(super) fn parse(expr: &str, builder: &mut Builder, depth: usize) -> Result<Node, Failure> {
    let toks = tokenize(expr);
    if toks.is_empty() {
        return Err(Failure::Here("empty expression".to_string()));
    }
    let mut parser = Parser {
        toks,
        pos: 0,
        builder,
        depth,
    };
    let node = parser.or_expr()?;
    match parser.peek() {
        None => Ok(node),
        Some(tok) => Err(parser.unexpected_after_operand(tok)),
    }
}

struct Parser<'a, 'b, 'g> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    builder: &'b mut Builder<'g>,
    depth: usize,
}

impl<'a> Parser<'a, '_, '_> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<Tok<'a>> {
        let tok = self.peek();
        self.pos += 1;
        tok
    }

    /// The token before the one just consumed, for messages.
    fn before_last(&self) -> Option<Tok<'a>> {
        self.pos
            .checked_sub(2)
            .and_then(|i| self.toks.get(i).copied())
    }

    fn or_expr(&mut self) -> Result<Node, Failure> {
        let mut items = vec![self.and_expr()?];
        while self.peek() == Some(Tok::Or) {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(Node::any(items))
    }

    fn and_expr(&mut self) -> Result<Node, Failure> {
        let mut items = vec![self.not_expr()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    items.push(self.not_expr()?);
                }
                // Salt inserts `and` before a `not` that follows an operand.
                Some(Tok::Not) => items.push(self.not_expr()?),
                _ => break,
            }
        }
        Ok(Node::all(items))
    }

    fn not_expr(&mut self) -> Result<Node, Failure> {
        if self.peek() != Some(Tok::Not) {
            return self.primary();
        }
        self.pos += 1;
        if self.peek() == Some(Tok::Not) {
            // Salt turns `not not x` into `not and not x`, a syntax error.
            return Err(Failure::Here(
                "`not not` is not allowed (Salt reads it as `not and not`)".to_string(),
            ));
        }
        Ok(Node::Not(Box::new(self.primary()?)))
    }

    fn primary(&mut self) -> Result<Node, Failure> {
        let Some(tok) = self.bump() else {
            return Err(Failure::Here(match self.before_last() {
                Some(prev) => format!("expected a target after {}", prev.show()),
                None => "empty expression".to_string(),
            }));
        };
        match tok {
            Tok::Word(word) => self.operand(word),
            Tok::LParen => {
                if self.depth >= MAX_DEPTH {
                    return Err(Failure::Here(format!(
                        "nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                if self.peek() == Some(Tok::RParen) {
                    return Err(Failure::Here("empty parentheses `( )`".to_string()));
                }
                self.depth += 1;
                let inner = self.or_expr()?;
                self.depth -= 1;
                match self.bump() {
                    Some(Tok::RParen) => Ok(inner),
                    None => Err(Failure::Here("unclosed `(`: missing `)`".to_string())),
                    Some(other) => {
                        self.pos -= 1;
                        Err(self.unexpected_after_operand(other))
                    }
                }
            }
            op => Err(Failure::Here(match self.before_last() {
                None => format!("an expression cannot start with {}", op.show()),
                Some(prev) => format!(
                    "expected a target after {}, found {}",
                    prev.show(),
                    op.show()
                ),
            })),
        }
    }

    /// `tok` follows a complete operand where only an operator may stand.
    fn unexpected_after_operand(&self, tok: Tok<'a>) -> Failure {
        let prev = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map(Tok::show)
            .unwrap_or_default();
        Failure::Here(match tok {
            Tok::RParen => format!("unbalanced `)` after {prev}"),
            other => format!("missing `and`/`or` between {prev} and {}", other.show()),
        })
    }

    fn operand(&mut self, word: &str) -> Result<Node, Failure> {
        let Some((engine, delimiter, pattern)) = split_engine(word) else {
            return super::glob_node(word).map_err(|r| Failure::Here(format!("`{word}`: {r}")));
        };
        if pattern.is_empty() {
            return Err(Failure::Here(format!("`{word}`: nothing after `@`")));
        }
        let here = |r: String| Failure::Here(format!("`{word}`: {r}"));
        match engine {
            'G' => super::grain_node(pattern, delimiter.unwrap_or(':'), false).map_err(here),
            'P' => super::grain_node(pattern, delimiter.unwrap_or(':'), true).map_err(here),
            'E' => super::pcre_node(pattern).map_err(here),
            'L' => super::list_node(pattern).map_err(here),
            'S' => super::ipcidr_node(pattern).map_err(here),
            'N' => self.builder.nodegroup(pattern, self.depth + 1),
            'I' => super::pillar_node(pattern, delimiter.unwrap_or(':'), false).map_err(here),
            'J' => super::pillar_node(pattern, delimiter.unwrap_or(':'), true).map_err(here),
            'R' => Err(here("range targeting (`R@`) is not supported".to_string())),
            other => Err(here(format!(
                "unknown matcher `{other}@` (known: G@ P@ I@ J@ E@ L@ S@ N@)"
            ))),
        }
    }
}

/// Split `X@pattern` / `Xd@pattern` (alternate delimiter `d`, for the
/// engines that take one) into engine, delimiter and pattern.
///
/// Salt treats a word whose prefix is no known engine as a glob; we reject
/// every `<uppercase letter>@` prefix we do not support instead, because a
/// host id of that shape is far less likely than a typo or an engine from a
/// newer Salt.
fn split_engine(word: &str) -> Option<(char, Option<char>, &str)> {
    let mut chars = word.char_indices();
    let (_, engine) = chars.next()?;
    if !engine.is_ascii_uppercase() {
        return None;
    }
    let (i1, c1) = chars.next()?;
    if c1 == '@' {
        return Some((engine, None, &word[i1 + 1..]));
    }
    if matches!(engine, 'G' | 'P' | 'I' | 'J') {
        let (i2, c2) = chars.next()?;
        if c2 == '@' {
            return Some((engine, Some(c1), &word[i2 + 1..]));
        }
    }
    None
}

/// True when `word` carries a matcher prefix (`G@`, `G|@`, ...).
pub(super) fn has_engine(word: &str) -> bool {
    split_engine(word).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(expr: &str) -> Vec<String> {
        tokenize(expr).iter().map(Tok::show).collect()
    }

    #[test]
    fn tokenizer_splits_attached_parentheses() {
        assert_eq!(
            words("(web* or db*)"),
            ["`(`", "`web*`", "`or`", "`db*`", "`)`"]
        );
        assert_eq!(
            words("((a and b)) or(c)"),
            ["`(`", "`(`", "`a`", "`and`", "`b`", "`)`", "`)`", "`or(c)`"]
        );
        assert_eq!(words("(not a)"), ["`(`", "`not`", "`a`", "`)`"]);
    }

    #[test]
    fn tokenizer_keeps_balanced_and_escaped_parentheses_in_words() {
        assert_eq!(words("E@web(1|2)"), ["`E@web(1|2)`"]);
        assert_eq!(words("(E@web(1|2))"), ["`(`", "`E@web(1|2)`", "`)`"]);
        assert_eq!(words(r"E@a\)"), [r"`E@a\)`"]);
        assert_eq!(words(r"(E@a\))"), ["`(`", r"`E@a\)`", "`)`"]);
        assert_eq!(words("G@os:x(1)"), ["`G@os:x(1)`"]);
    }

    #[test]
    fn operators_are_lowercase_only() {
        assert_eq!(words("a AND b"), ["`a`", "`AND`", "`b`"]);
    }

    #[test]
    fn engine_prefixes() {
        assert_eq!(split_engine("G@os:x"), Some(('G', None, "os:x")));
        assert_eq!(split_engine("G|@os|x"), Some(('G', Some('|'), "os|x")));
        assert_eq!(split_engine("P;@os;x"), Some(('P', Some(';'), "os;x")));
        assert_eq!(split_engine("E@web"), Some(('E', None, "web")));
        assert_eq!(split_engine("E|@web"), None);
        assert_eq!(split_engine("web@x"), None);
        assert_eq!(split_engine("g@x"), None);
        assert_eq!(split_engine("G@"), Some(('G', None, "")));
        assert_eq!(split_engine("X@y"), Some(('X', None, "y")));
    }
}
