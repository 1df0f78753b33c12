//! SQL text read as the server reads it, as far as pgsplit needs: the names a function's
//! body writes, which the catalog does not record for a body kept as text.

use std::collections::HashSet;

/// One token of an SQL text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token {
    /// An identifier or keyword: unquoted ones folded to lower case (ASCII letters only,
    /// as the server does in a multibyte encoding), quoted ones as written.
    Word(String),
    /// A string literal's text.
    Literal(String),
    /// A number.
    Number,
    Punct(char),
}

/// The tokens of `text`; comments are skipped.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut word = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() != Some(&'"') {
                            break;
                        }
                        chars.next();
                    }
                    word.push(c);
                }
                tokens.push(Token::Word(word));
            }
            '\'' => {
                // E'…' takes backslash escapes.
                let escapes = matches!(tokens.last(), Some(Token::Word(w)) if w == "e");
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    if c == '\\' && escapes {
                        literal.extend(chars.next());
                        continue;
                    }
                    if c == '\'' {
                        if chars.peek() != Some(&'\'') {
                            break;
                        }
                        chars.next();
                    }
                    literal.push(c);
                }
                tokens.push(Token::Literal(literal));
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut depth = 1;
                let mut last = ' ';
                for c in chars.by_ref() {
                    match (last, c) {
                        ('*', '/') => depth -= 1,
                        ('/', '*') => depth += 1,
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    // `/*/` opens, not closes.
                    last = if matches!((last, c), ('/', '*') | ('*', '/')) {
                        ' '
                    } else {
                        c
                    };
                }
            }
            c if c.is_ascii_digit() => {
                while chars.peek().is_some_and(|c| word_char(*c)) {
                    chars.next();
                }
                tokens.push(Token::Number);
            }
            c if word_char(c) && c != '$' => {
                let mut word = String::from(c.to_ascii_lowercase());
                while let Some(&c) = chars.peek() {
                    if !word_char(c) {
                        break;
                    }
                    word.push(c.to_ascii_lowercase());
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            c if c.is_whitespace() => {}
            c => tokens.push(Token::Punct(c)),
        }
    }
    tokens
}

/// The names `schema.name` an SQL text writes; a string literal is read on its own (a
/// `'public.t'::regclass` names a relation, and a `'"'` must not open an identifier).
pub(crate) fn qualified_names(text: &str) -> HashSet<(String, String)> {
    let tokens = tokens(text);
    let mut out = HashSet::new();
    for t in &tokens {
        if let Token::Literal(literal) = t {
            out.extend(qualified_names(literal));
        }
    }
    for w in tokens.windows(3) {
        if let [Token::Word(schema), Token::Punct('.'), Token::Word(name)] = w {
            out.insert((schema.clone(), name.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_are_read_as_the_server_folds_them() {
        let text = r#"SELECT 1e5 + x2 AS c FROM Public."Zz ""top""" JOIN public.Ärger ON true
            WHERE n <> '"' AND r = 'S.seq'::regclass -- other.commented
            AND /* a /* nested */ b.commented */ s.f(E'\'x.y') + public . spaced"#;
        let mut names: Vec<(String, String)> = qualified_names(text).into_iter().collect();
        names.sort();
        let expected = [
            ("public", "Zz \"top\""),
            ("public", "spaced"),
            ("public", "\u{c4}rger"),
            ("s", "f"),
            ("s", "seq"),
            ("x", "y"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(names, expected);
    }
}
