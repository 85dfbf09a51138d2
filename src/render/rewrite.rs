//! A source-to-source pre-pass that gives templates the Python semantics
//! Salt's Jinja has and minijinja's does not, by rewriting expressions into
//! calls of functions `jinja.rs` registers:
//! - `{% do EXPR %}` → `{% do __halite_do(EXPR) %}`: minijinja's `do`
//!   takes only a call, Jinja2's any expression (`{% do x if c %}`);
//! - dict and list literals `{...}`/`[...]` → `__halite_mut(...)`, and the
//!   value of every `{% set x = EXPR %}` → `__halite_mut(EXPR)`: the
//!   template's maps and lists become mutable shared objects
//!   (`pyobj.rs`), so `x.append(..)` changes `x` for every name bound to it;
//! - `A % B` → `__halite_mod(A, B)`: Python's string formatting operator
//!   (`pyfmt::percent`), which minijinja's `%` (numbers only) lacks.
//!
//! Why rewrite the text rather than add syntax: minijinja has no hook for
//! operators, literals or statements, and its values are immutable by
//! design. The rewrite uses minijinja's own lexer and parser (the
//! `unstable_machinery` API, pinned by Cargo.lock), so strings, comments
//! and `raw` blocks are never touched, and it inserts no newline, so every
//! error keeps its line. A template minijinja cannot parse is left as it
//! is (after the `do` step) for minijinja to report with its line.

use std::sync::OnceLock;

use minijinja::machinery::ast::{CallArg, Expr, Stmt};
use minijinja::machinery::{ast, parse, tokenize, Token};
use minijinja::syntax::SyntaxConfig;
use regex::Regex;

/// The syntax halite's environment uses (and the rewrite must lex with).
pub(super) fn syntax() -> SyntaxConfig {
    SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default()
}

/// Text inserted at (or replacing) a byte range of the source.
struct Edit {
    start: usize,
    end: usize,
    text: &'static str,
}

fn apply(source: &str, mut edits: Vec<Edit>) -> String {
    // Stable: edits at one offset keep the order they were made in (outer
    // openings before inner ones, inner closings before outer ones).
    edits.sort_by_key(|e| e.start);
    let mut out = String::with_capacity(source.len() + edits.len() * 16);
    let mut at = 0;
    for e in edits {
        out.push_str(&source[at..e.start]);
        out.push_str(e.text);
        at = e.end.max(e.start);
    }
    out.push_str(&source[at..]);
    out
}

/// Rewrite `source` (see the module doc). `name` is only for the parser.
pub(super) fn rewrite(source: &str, name: &str) -> String {
    let source = rewrite_do(source);
    let Ok(tree) = parse(&source, name, syntax()) else {
        return source;
    };
    let mut w = Walker {
        edits: Vec::new(),
        source: &source,
    };
    w.stmt(&tree);
    apply(&source, w.edits)
}

/// `{% do EXPR %}` → `{% do __halite_do(EXPR) %}`, on the token stream.
fn rewrite_do(source: &str) -> String {
    static DO_TAG: OnceLock<Regex> = OnceLock::new();
    let do_tag = DO_TAG.get_or_init(|| Regex::new(r"\{%[-+]?\s*do\b").expect("static regex"));
    if !do_tag.is_match(source) {
        return source.to_string();
    }
    let mut edits = Vec::new();
    let mut prev_block_start = false;
    let mut open = false;
    for tok in tokenize(source, false, syntax()) {
        let Ok((tok, span)) = tok else {
            return source.to_string();
        };
        match tok {
            Token::Ident("do") if prev_block_start => {
                let at = span.end_offset as usize;
                edits.push(Edit {
                    start: at,
                    end: at,
                    text: " __halite_do(",
                });
                open = true;
            }
            Token::BlockEnd if open => {
                let at = span.start_offset as usize;
                edits.push(Edit {
                    start: at,
                    end: at,
                    text: ") ",
                });
                open = false;
            }
            _ => {}
        }
        prev_block_start = matches!(tok, Token::BlockStart);
    }
    apply(source, edits)
}

struct Walker<'s> {
    edits: Vec<Edit>,
    source: &'s str,
}

impl Walker<'_> {
    fn insert(&mut self, at: u32, text: &'static str) {
        let at = at as usize;
        self.edits.push(Edit {
            start: at,
            end: at,
            text,
        });
    }

    fn stmts(&mut self, body: &[Stmt<'_>]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt<'_>) {
        match s {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.iter);
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                self.stmts(&f.body);
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr);
                self.stmts(&i.true_body);
                self.stmts(&i.false_body);
            }
            Stmt::WithBlock(w) => {
                for (_, e) in &w.assignments {
                    self.expr(e);
                }
                self.stmts(&w.body);
            }
            Stmt::Set(set) => self.set_value(&set.expr),
            Stmt::SetBlock(b) => {
                if let Some(f) = &b.filter {
                    self.expr(f);
                }
                self.stmts(&b.body);
            }
            Stmt::AutoEscape(a) => self.stmts(&a.body),
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter);
                self.stmts(&f.body);
            }
            Stmt::Block(b) => self.stmts(&b.body),
            Stmt::Import(i) => self.expr(&i.expr),
            Stmt::FromImport(i) => self.expr(&i.expr),
            Stmt::Extends(e) => self.expr(&e.name),
            Stmt::Include(i) => self.expr(&i.name),
            Stmt::Macro(m) => self.macro_decl(m),
            Stmt::CallBlock(c) => {
                self.call(&c.call);
                self.macro_decl(&c.macro_decl);
            }
            Stmt::Do(d) => self.call(&d.call),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro<'_>) {
        for d in &m.defaults {
            self.expr(d);
        }
        self.stmts(&m.body);
    }

    /// The value of `{% set x = EXPR %}`: made mutable as a whole (it may
    /// be a filter's or an operator's list), unless it is a literal, which
    /// [`Walker::expr`] wraps anyway.
    fn set_value(&mut self, e: &Expr<'_>) {
        if matches!(e, Expr::List(_) | Expr::Map(_)) {
            return self.expr(e);
        }
        let (start, end) = extent(e);
        self.insert(start, "__halite_mut(");
        self.expr(e);
        self.insert(end, ")");
    }

    fn call(&mut self, c: &ast::Call<'_>) {
        self.expr(&c.expr);
        self.args(&c.args);
    }

    fn args(&mut self, args: &[CallArg<'_>]) {
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, e: &Expr<'_>) {
        match e {
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) if matches!(b.op, ast::BinOpKind::Rem) => self.percent(b, extent(e)),
            Expr::BinOp(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => {
                if let Some(e) = &f.expr {
                    self.expr(e);
                }
                self.args(&f.args);
            }
            Expr::Test(t) => {
                self.expr(&t.expr);
                self.args(&t.args);
            }
            Expr::GetAttr(g) => self.expr(&g.expr),
            Expr::GetItem(g) => {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            Expr::Call(c) => self.call(c),
            Expr::Tuple(t) => t.items.iter().for_each(|i| self.expr(i)),
            Expr::List(_) | Expr::Map(_) => self.literal(e),
        }
    }

    fn literal(&mut self, e: &Expr<'_>) {
        let span = e.span();
        self.insert(span.start_offset, "__halite_mut(");
        match e {
            Expr::List(l) => l.items.iter().for_each(|i| self.expr(i)),
            Expr::Map(m) => {
                for (k, v) in m.keys.iter().zip(&m.values) {
                    self.expr(k);
                    self.expr(v);
                }
            }
            _ => {}
        }
        self.insert(span.end_offset, ")");
    }

    /// `A % B` → `__halite_mod(A, B)`. The operator is the one `%` between
    /// the operands' spans (only parentheses and spaces can sit there).
    fn percent(&mut self, b: &ast::BinOp<'_>, (start, end): (u32, u32)) {
        let (gap_start, gap_end) = (extent(&b.left).1 as usize, extent(&b.right).0 as usize);
        let Some(op) = self
            .source
            .get(gap_start..gap_end)
            .and_then(|gap| gap.find('%'))
            .map(|i| gap_start + i)
        else {
            // Unexpected spans: leave minijinja's `%` (numbers only).
            self.expr(&b.left);
            self.expr(&b.right);
            return;
        };
        self.insert(start, "__halite_mod(");
        self.expr(&b.left);
        self.edits.push(Edit {
            start: op,
            end: op + 1,
            text: ",",
        });
        self.expr(&b.right);
        self.insert(end, ")");
    }
}

/// The source range an expression covers. minijinja's span of a postfix
/// node (`a.b`, `a[0]`, `f(x)`, `x|f`, `x is t`) starts at the postfix
/// part, so the operand's range is joined in.
fn extent(e: &Expr<'_>) -> (u32, u32) {
    let span = e.span();
    let own = (span.start_offset, span.end_offset);
    let join = |(a, b): (u32, u32), inner: &Expr<'_>| {
        let (c, d) = extent(inner);
        (a.min(c), b.max(d))
    };
    match e {
        Expr::GetAttr(g) => join(own, &g.expr),
        Expr::GetItem(g) => join(join(own, &g.expr), &g.subscript_expr),
        Expr::Call(c) => join(own, &c.expr),
        Expr::Filter(f) => f.expr.as_ref().map_or(own, |x| join(own, x)),
        Expr::Test(t) => join(own, &t.expr),
        Expr::Slice(s) => join(own, &s.expr),
        // minijinja may start an infix expression's span at the token
        // before it (the `=` of a `set`): its operands give the start.
        Expr::BinOp(b) => {
            let r = join(extent(&b.left), &b.right);
            (r.0, r.1.max(own.1))
        }
        Expr::Compare(c) => {
            let r = c
                .ops
                .iter()
                .fold(extent(&c.expr), |r, op| join(r, &op.expr));
            (r.0, r.1.max(own.1))
        }
        Expr::IfExpr(i) => {
            let r = join(extent(&i.true_expr), &i.test_expr);
            let r = i.false_expr.as_ref().map_or(r, |f| join(r, f));
            (r.0, r.1.max(own.1))
        }
        _ => own,
    }
}
