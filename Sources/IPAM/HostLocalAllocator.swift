/// Walks a range set round-robin the way the reference plugin's RangeIter
/// does. The walk starts after the last reserved address, or at the first
/// range's rangeStart when there is none. It runs through each range up to its
/// rangeEnd and on to the next range, wrapping from the last range to the
/// first. Gateways are skipped, and the walk stops after one full turn.
struct RangeIterator {
    let rangeSet: IPRangeSet
    private var rangeIndex = 0
    private var current: IPAddress?
    private var start: IPAddress?

    init(rangeSet: IPRangeSet, lastReserved: IPAddress?) {
        self.rangeSet = rangeSet
        // A last reserved address outside the set (the ranges changed) is
        // ignored, so the walk starts over at rangeStart.
        if let lastReserved, let index = rangeSet.ranges.firstIndex(where: { $0.contains(lastReserved) }) {
            rangeIndex = index
            current = lastReserved
        } else {
            start = rangeSet.ranges[0].rangeStart
        }
    }

    /// Returns the next candidate with its range, or nil after a full turn.
    mutating func next() -> (address: IPAddress, range: IPRange)? {
        while true {
            var range = rangeSet.ranges[rangeIndex]
            guard let position = current else {
                // First call without a last reserved address: rangeStart is inclusive.
                current = range.rangeStart
                start = range.rangeStart
                if range.rangeStart == range.gateway { continue }
                return (range.rangeStart, range)
            }
            if position == range.rangeEnd {
                rangeIndex = (rangeIndex + 1) % rangeSet.ranges.count
                range = rangeSet.ranges[rangeIndex]
                current = range.rangeStart
            } else {
                current = position.next
            }
            let candidate = current!
            if let start {
                if candidate == start { return nil }
            } else {
                start = candidate
            }
            if candidate == range.gateway { continue }
            return (candidate, range)
        }
    }
}
