//! Where a record's offset falls in a committed section.

use crate::ids::Offset;

/// The offset of the record `records_before` records into a section whose first kept record
/// is `base`, when `holes` got no offsets.
pub fn offset_in_section(base: Offset, records_before: u64, holes: &[(u64, u64)]) -> Offset {
    let skipped: u64 = holes
        .iter()
        .filter(|(before, _)| *before < records_before)
        .map(|(_, n)| n)
        .sum();
    base.plus(records_before - skipped)
}
