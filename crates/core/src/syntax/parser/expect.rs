//! Building `expect` statements: queries and predicates.

use pest::iterators::Pair;

use super::{Builder, Parts as _, Rule};
use crate::source::{Span, Spanned};
use crate::syntax::ast::*;

impl Builder {
    pub(super) fn expect(&mut self, pair: Pair<Rule>, stmt_span: Span) -> Expect {
        let rule = pair.as_rule();
        let inner_span = self.span(&pair);
        let mut parts = pair.parts();
        match rule {
            Rule::expect_no => {
                let no = parts.next().expect("no");
                let query = self.query(parts.next().expect("query"));
                Expect {
                    query,
                    predicate: Predicate {
                        negated: true,
                        op: Op::Exists,
                        operand: None,
                        span: self.span(&no),
                    },
                    span: stmt_span,
                }
            }
            Rule::expect_signature => {
                parts.next();
                let source = JwtSource::new(self.string(parts.next().expect("jwt source")));
                let signature = parts.next().expect("signature");
                let mut negated = false;
                let mut last_span = self.span(&signature);
                for p in parts {
                    if p.as_rule() == Rule::negation {
                        negated = true;
                    }
                    last_span = self.span(&p);
                }
                Expect {
                    query: Query {
                        kind: QueryKind::JwtSignature { source },
                        span: Span::new(inner_span.start, self.span(&signature).end),
                    },
                    predicate: Predicate {
                        negated,
                        op: Op::Valid,
                        operand: None,
                        span: Span::new(self.span(&signature).end, last_span.end),
                    },
                    span: stmt_span,
                }
            }
            Rule::expect_query => {
                let query = self.query(parts.next().expect("query"));
                let predicate = self.predicate(parts.next().expect("predicate"));
                Expect {
                    query,
                    predicate,
                    span: stmt_span,
                }
            }
            rule => unreachable!("unexpected expect rule {rule:?}"),
        }
    }

    pub(super) fn query(&mut self, pair: Pair<Rule>) -> Query {
        let query_span = self.span(&pair);
        let q = pair.parts().next().expect("query kind");
        let rule = q.as_rule();
        let mut parts = q.parts();
        parts.next(); // keyword
        let kind = match rule {
            Rule::q_status => QueryKind::Status,
            Rule::q_latency => QueryKind::Latency(parts.next().map(|p| {
                let text = p.as_str();
                let pct = match text {
                    "max" => Percentile::Max,
                    "min" => Percentile::Min,
                    "mean" => Percentile::Mean,
                    _ => {
                        let n: u8 = text[1..].parse().unwrap_or(0);
                        if n == 0 {
                            self.push(
                                self.diag(self.span(&p), format!("`{text}` is not a percentile"))
                                    .help("use p1 to p99, min, max or mean"),
                            );
                        }
                        Percentile::P(n)
                    }
                };
                Spanned::new(pct, self.span(&p))
            })),
            Rule::q_body => QueryKind::Body,
            Rule::q_header => QueryKind::Header(self.string(parts.next().expect("header"))),
            Rule::q_json => QueryKind::Json(self.literal_arg(parts.next().expect("path"))),
            Rule::q_regex => QueryKind::Regex(self.literal_arg(parts.next().expect("regex"))),
            Rule::q_oauth_error => QueryKind::OAuthError,
            Rule::q_oauth_error_description => QueryKind::OAuthErrorDescription,
            Rule::q_jwt_claim => {
                let source = JwtSource::new(self.string(parts.next().expect("jwt source")));
                parts.next(); // `claim`
                let claim = self.literal_arg(parts.next().expect("claim"));
                QueryKind::JwtClaim { source, claim }
            }
            rule => unreachable!("unexpected query rule {rule:?}"),
        };
        Query {
            kind,
            span: query_span,
        }
    }

    pub(super) fn literal_arg(&mut self, pair: Pair<Rule>) -> Spanned<String> {
        let t = self.string(pair);
        Spanned::new(self.literal(&t), t.span)
    }

    pub(super) fn predicate(&mut self, pair: Pair<Rule>) -> Predicate {
        let pred_span = self.span(&pair);
        let mut negated = false;
        let mut op = Op::Exists;
        let mut operand = None;
        for p in pair.parts() {
            match p.as_rule() {
                Rule::negation => negated = true,
                Rule::pred_exists => op = Op::Exists,
                Rule::pred_binary => {
                    let mut parts = p.parts();
                    op = match parts.next().expect("operator").as_str() {
                        "==" => Op::Eq,
                        "!=" => Op::Ne,
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        ">=" => Op::Ge,
                        "contains" => Op::Contains,
                        "matches" => Op::Matches,
                        "startswith" => Op::StartsWith,
                        _ => Op::EndsWith,
                    };
                    operand = Some(self.value_or_symbol(parts.next().expect("operand")));
                }
                rule => unreachable!("unexpected predicate rule {rule:?}"),
            }
        }
        Predicate {
            negated,
            op,
            operand,
            span: pred_span,
        }
    }
}
