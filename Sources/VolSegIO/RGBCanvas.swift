/// An RGB raster with the few drawing operations VolSeg's pictures need (curves.png, the
/// evaluation pictures): pixels, boxes, lines and text in `PixelFont`.
public struct RGBCanvas {
    public let width: Int, height: Int
    /// RGB, 3 bytes per pixel, top row first.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: UInt8 = 255) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: background, count: width * height * 3)
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    public mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ c: (UInt8, UInt8, UInt8)) {
        for yy in y..<(y + h) { for xx in x..<(x + w) { set(xx, yy, c) } }
    }

    public mutating func dot(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) { fill(x - 1, y - 1, 3, 3, c) }

    /// Bresenham, two pixels thick.
    public mutating func line(_ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, _ c: (UInt8, UInt8, UInt8)) {
        var x = xa, y = ya
        let dx = abs(xb - xa), dy = -abs(yb - ya), sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, c); set(x, y + 1, c)
            if x == xb && y == yb { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// `s` in upper case at (x, y), the top-left corner of the first glyph.
    public mutating func text(_ s: String, x: Int, y: Int, scale: Int, _ c: (UInt8, UInt8, UInt8)) {
        var cx = x
        for ch in s.uppercased() {
            let rows = PixelFont.glyphs[ch] ?? PixelFont.glyphs["_"]!
            for (r, bits) in rows.enumerated() {
                for b in 0..<3 where bits & (4 >> b) != 0 { fill(cx + b * scale, y + r * scale, scale, scale, c) }
            }
            cx += 4 * scale
        }
    }
}
