//! Half-open intervals of Unix seconds and the set operations the engine sweeps with.
//!
//! Every list handled here is *normalised*: sorted by start, non-empty, and with
//! no two intervals overlapping or touching. All operations are linear merges.

/// A half-open interval `[start, end)` of Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn new(start: i64, end: i64) -> Self {
        Span { start, end }
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    pub fn overlaps(self, other: Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains_span(self, inner: Span) -> bool {
        self.start <= inner.start && inner.end <= self.end
    }
}

/// Sorts, drops empty intervals and merges overlapping or touching ones, in place.
pub(crate) fn normalize(spans: &mut Vec<Span>) {
    spans.retain(|s| !s.is_empty());
    if spans.windows(2).any(|w| w[1].start < w[0].start) {
        spans.sort_unstable_by_key(|s| s.start);
    }
    let mut out = 0;
    for i in 0..spans.len() {
        let s = spans[i];
        if out > 0 && s.start <= spans[out - 1].end {
            if s.end > spans[out - 1].end {
                spans[out - 1].end = s.end;
            }
        } else {
            spans[out] = s;
            out += 1;
        }
    }
    spans.truncate(out);
}

/// The intersection of two normalised lists.
pub(crate) fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Span::new(start, end));
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a` minus `b`, both normalised.
pub(crate) fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &span in a {
        let mut start = span.start;
        while j < b.len() && b[j].end <= start {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].start < span.end {
            if b[k].start > start {
                out.push(Span::new(start, b[k].start));
            }
            start = start.max(b[k].end);
            k += 1;
        }
        if start < span.end {
            out.push(Span::new(start, span.end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(v: &[(i64, i64)]) -> Vec<Span> {
        v.iter().map(|&(s, e)| Span::new(s, e)).collect()
    }

    #[test]
    fn normalize_merges_touching_and_overlapping() {
        let mut v = spans(&[(5, 7), (1, 3), (3, 4), (6, 9), (10, 10)]);
        normalize(&mut v);
        assert_eq!(v, spans(&[(1, 4), (5, 9)]));
    }

    #[test]
    fn intersect_and_subtract() {
        let a = spans(&[(0, 10), (20, 30)]);
        let b = spans(&[(5, 25), (28, 40)]);
        assert_eq!(intersect(&a, &b), spans(&[(5, 10), (20, 25), (28, 30)]));
        assert_eq!(subtract(&a, &b), spans(&[(0, 5), (25, 28)]));
        assert_eq!(subtract(&a, &[]), a);
        assert_eq!(subtract(&spans(&[(0, 10)]), &spans(&[(2, 3), (5, 6)])), spans(&[(0, 2), (3, 5), (6, 10)]));
    }
}
