import Foundation
import VolSegIO

/// curves.png: training loss per epoch (mean over the epoch's steps) on the left, validation Dice
/// per structure on the right (0 to 1), drawn into an RGB picture with a 3x5 pixel font.
public struct CurvePlot {
    public var epochLoss: [Double]
    /// One series per structure, one value per epoch (NaN where not validated).
    public var dice: [(name: String, values: [Double])]

    public init(epochLoss: [Double], dice: [(name: String, values: [Double])]) {
        self.epochLoss = epochLoss
        self.dice = dice
    }

    static let panelWidth = 420, panelHeight = 300, margin = 40
    static let palette: [(UInt8, UInt8, UInt8)] = [(214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75), (23, 190, 207)]

    /// The picture: width, height and RGB bytes, top row first.
    public func render() -> (width: Int, height: Int, pixels: [UInt8]) {
        var canvas = RGBCanvas(width: 2 * Self.panelWidth, height: Self.panelHeight)
        let lossMax = max(epochLoss.filter(\.isFinite).max() ?? 1, 1e-6)
        drawPanel(&canvas, left: 0, title: "TRAINING LOSS", top: lossMax,
                  series: [("", epochLoss.map { $0 / lossMax }, (31, 119, 180))])
        let series = dice.enumerated().map { i, s in (s.name.uppercased(), s.values, Self.palette[i % Self.palette.count]) }
        drawPanel(&canvas, left: Self.panelWidth, title: "VALIDATION DICE", top: 1, series: series)
        return (canvas.width, canvas.height, canvas.pixels)
    }

    public func write(to url: URL) throws {
        let picture = render()
        try PNGWriter.writeRGB(width: picture.width, height: picture.height, pixels: picture.pixels, to: url)
    }

    /// A panel: axes, grid, tick labels, one polyline per series with values in 0...1 of `top`.
    private func drawPanel(_ c: inout RGBCanvas, left: Int, title: String, top: Double,
                           series: [(String, [Double], (UInt8, UInt8, UInt8))]) {
        let m = Self.margin
        let x0 = left + m, x1 = left + Self.panelWidth - 12, y0 = Self.panelHeight - m, y1 = 24
        for k in 0...4 {
            let y = y0 - (y0 - y1) * k / 4
            c.line(x0, y, x1, y, (225, 225, 225))
        }
        c.line(x0, y0, x1, y0, (0, 0, 0))
        c.line(x0, y0, x0, y1, (0, 0, 0))
        c.text(title, x: x0, y: 6, scale: 2, (0, 0, 0))
        c.text(Self.format(top), x: left + 4, y: y1 - 4, scale: 2, (0, 0, 0))
        c.text("0", x: left + 4, y: y0 - 4, scale: 2, (0, 0, 0))
        let epochs = max(series.map { $0.1.count }.max() ?? 0, 1)
        c.text("EPOCH \(epochs)", x: x1 - PixelFont.width("EPOCH \(epochs)", scale: 2), y: y0 + 10, scale: 2, (0, 0, 0))
        func point(_ i: Int, _ v: Double) -> (Int, Int) {
            let x = epochs == 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * i / (epochs - 1)
            return (x, y0 - Int((Double(y0 - y1) * min(max(v, 0), 1)).rounded()))
        }
        var legendY = y1 + 6
        for (name, values, colour) in series {
            var previous: (Int, Int)?
            for (i, v) in values.enumerated() {
                guard v.isFinite else { continue }
                let p = point(i, v)
                if let q = previous { c.line(q.0, q.1, p.0, p.1, colour) } else { c.dot(p.0, p.1, colour) }
                previous = p
            }
            if !name.isEmpty {
                c.fill(x1 - 110, legendY, 14, 8, colour)
                c.text(String(name.prefix(14)), x: x1 - 92, y: legendY - 1, scale: 2, (0, 0, 0))
                legendY += 16
            }
        }
    }

    static func format(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }
}
