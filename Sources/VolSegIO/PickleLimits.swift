/// Bounds that keep a hostile pickle from exhausting memory or the stack. Real checkpoints sit
/// far below each: STU-Net-H's ~5,000 tensors with their optimizer state make some 10^5 objects,
/// and nnU-Net's plans nest less than 10 deep.
struct PickleLimits {
    /// Items on the unpickler's stack, and marks.
    var stack = 1 << 21
    var memo = 1 << 21
    /// Containers and objects made.
    var objects = 1 << 21
    /// Items held by all containers together (16 bytes each).
    var items = 1 << 24
    /// Nesting of the value read; it also bounds the recursion that converts and frees it.
    var depth = 512
    /// Values in the result counted as a tree, so that a small pickle sharing one list many
    /// times over cannot hand the caller a value too large to walk or print.
    var values = 1 << 24
    /// Bytes of a LONG1/LONG4 integer, and digits of a text LONG: converting between binary and
    /// decimal is quadratic (Python bounds int-to-string conversion at 4300 digits likewise).
    var integerBytes = 1024
    var integerDigits = 4300

    static let standard = PickleLimits()
}
