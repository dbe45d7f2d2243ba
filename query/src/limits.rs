//! The query limits, in one place. ADT's values come from adt-api.md §5.5; the nesting bound is
//! ours and exists to keep the recursive parser off the end of the stack.

/// Longest query text, in characters. Checked before anything else, so a 1 MB query costs one
/// pass over its characters.
pub const MAX_QUERY_CHARS: usize = 8_000;

/// JOIN clauses per query.
pub const MAX_JOINS: usize = 5;

/// MATCH hops per query, summed over the edges (each edge counts its largest hop count).
pub const MAX_MATCH_HOPS: u32 = 10;

/// AND and OR operators per query.
pub const MAX_BOOLEAN_OPERATORS: usize = 50;

/// Items in one IN or NIN list.
///
/// ADT's documentation disagrees with itself: the service-limits page says 50, the operators
/// reference says 100. We enforce the larger value so that every query either page promises
/// works; a query with 51..=100 items may be refused by a real ADT instance.
pub const MAX_IN_ITEMS: usize = 100;

/// Nesting depth of parentheses and brackets. Not an ADT limit: pest's generated parser recurses
/// several frames per level, so the depth is bounded (by a pre-scan of the text) before pest
/// runs. Real queries nest a handful of levels.
pub const MAX_NESTING: usize = 32;

/// Largest hop count written in one edge that we bother to parse; anything above is over
/// [`MAX_MATCH_HOPS`] anyway.
pub(crate) const MAX_HOP_LITERAL: u32 = 1_000;
