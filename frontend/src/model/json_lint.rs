//! Every JSON syntax error of a document, not only the first: a tolerant scan that reports a
//! problem, assumes the likely fix (a missing comma or colon, a trailing comma) and goes on.
//! serde_json stops at the first error; a person fixing a pasted spec wants them all at once.

/// A syntax problem at a 1-based line and column, worded like serde_json's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Problems listed at most, so a binary blob pasted by mistake does not flood the list.
const MAX: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Open(char),
    Close(char),
    Colon,
    Comma,
    Str,
    Lit,
    Bad(char),
    End,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    fn bump(&mut self) -> Option<char> {
        let c = *self.chars.get(self.pos)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// The next token and where it starts; an unterminated string is reported through `bad`.
    fn next(&mut self, bad: &mut Vec<Problem>) -> (Tok, usize, usize) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
        let (line, col) = (self.line, self.col);
        let Some(c) = self.bump() else {
            return (Tok::End, line, col);
        };
        let tok = match c {
            '{' | '[' => Tok::Open(c),
            '}' | ']' => Tok::Close(c),
            ':' => Tok::Colon,
            ',' => Tok::Comma,
            '"' => self.string(line, col, bad),
            c if c == '-' || c.is_ascii_alphanumeric() => {
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
                {
                    self.bump();
                }
                Tok::Lit
            }
            c => Tok::Bad(c),
        };
        (tok, line, col)
    }

    fn string(&mut self, line: usize, col: usize, bad: &mut Vec<Problem>) -> Tok {
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '"' => return Tok::Str,
                '\n' => break,
                _ => {}
            }
        }
        bad.push(Problem {
            line,
            col,
            message: format!("a string that never ends, starting at line {line} column {col}"),
        });
        Tok::Str
    }
}

struct Parser {
    lex: Lexer,
    cur: (Tok, usize, usize),
    problems: Vec<Problem>,
}

impl Parser {
    fn advance(&mut self) {
        let mut bad = Vec::new();
        self.cur = self.lex.next(&mut bad);
        self.problems.extend(bad);
    }

    fn report(&mut self, what: &str) {
        let (_, line, col) = self.cur;
        if self.problems.len() < MAX
            && !self.problems.iter().any(|p| (p.line, p.col) == (line, col))
        {
            self.problems.push(Problem {
                line,
                col,
                message: format!("{what} at line {line} column {col}"),
            });
        }
    }

    fn value(&mut self, depth: usize) {
        match self.cur.0 {
            Tok::Open(c) if depth < 64 => {
                self.advance();
                self.members(if c == '{' { '}' } else { ']' }, c == '{', depth + 1);
            }
            Tok::Str | Tok::Lit => self.advance(),
            Tok::Bad(c) => {
                self.report(&format!("unexpected character `{c}`"));
                self.advance();
            }
            Tok::End => self.report("EOF while parsing: a value is missing"),
            _ => self.report("expected a value"),
        }
    }

    /// The members of an object (`key: value, ...`) or the items of an array, to `close`.
    fn members(&mut self, close: char, object: bool, depth: usize) {
        if self.cur.0 == Tok::Close(close) {
            return self.advance();
        }
        loop {
            if self.cur.0 == Tok::End {
                return self.report(&format!("EOF while parsing: `{close}` is missing"));
            }
            if object {
                if self.cur.0 == Tok::Str {
                    self.advance();
                } else {
                    self.report("expected a key in double quotes");
                }
                if self.cur.0 == Tok::Colon {
                    self.advance();
                } else {
                    self.report("expected `:`");
                }
            }
            self.value(depth);
            match self.cur.0 {
                Tok::Comma => {
                    self.advance();
                    if self.cur.0 == Tok::Close(close) {
                        self.report("a trailing comma: nothing may follow it");
                        return self.advance();
                    }
                }
                Tok::Close(c) if c == close => return self.advance(),
                Tok::End => {
                    return self.report(&format!("EOF while parsing: `{close}` is missing"))
                }
                Tok::Close(_) => {
                    self.report(&format!("expected `,` or `{close}`"));
                    return self.advance();
                }
                _ => self.report(&format!("expected `,` or `{close}`")),
            }
            if self.problems.len() >= MAX {
                return;
            }
        }
    }
}

/// Every syntax problem of `text`, in order; empty when it is well-formed JSON.
pub fn problems(text: &str) -> Vec<Problem> {
    let lex = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut p = Parser {
        lex,
        cur: (Tok::End, 1, 1),
        problems: Vec::new(),
    };
    p.advance();
    p.value(0);
    if p.cur.0 != Tok::End && p.problems.is_empty() {
        p.report("trailing characters");
    }
    p.problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Vec<(usize, usize)> {
        problems(text).iter().map(|p| (p.line, p.col)).collect()
    }

    #[test]
    fn well_formed_json_has_no_problem() {
        assert!(
            problems(r#"{"a": [1, -2.5e3, "x\"y", true, null, {}], "b": {"c": []}}"#).is_empty()
        );
    }

    #[test]
    fn every_missing_comma_is_listed_not_only_the_first() {
        let text = "{\n  \"a\": 1\n  \"b\": 2,\n  \"c\": [1 2],\n}";
        assert_eq!(at(text), vec![(3, 3), (4, 11), (5, 1)]);
        let all = problems(text);
        assert!(all[0]
            .message
            .starts_with("expected `,` or `}` at line 3 column 3"));
        assert!(all[2].message.contains("trailing comma"));
    }

    #[test]
    fn unterminated_strings_and_missing_colons_are_named() {
        let p = problems("{\"a\" 1, \"b\": \"open\n}");
        assert!(p[0].message.starts_with("expected `:`"), "{p:?}");
        assert!(p.iter().any(|p| p.message.contains("never ends")), "{p:?}");
        assert!(!problems("{").is_empty());
    }
}
