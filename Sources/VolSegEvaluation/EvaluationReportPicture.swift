import Foundation
import VolSegCore
import VolSegIO

/// A case's picture for the report: the case id and each label's Dice on top, then axial, coronal
/// and sagittal slices side by side (each titled with its slice index) on the grey image (or the
/// reference mask when there is no image), the reference outlined in green and the prediction in
/// red (yellow where the two outlines coincide), and a legend saying so underneath.
///
/// Slices are the ones with the most voxels where prediction and reference disagree along each
/// axis, so the picture shows where the model fails; without any disagreement, the ones with the
/// most reference foreground (the centre of mass can fall outside a curved organ). Panels are
/// resampled (nearest neighbour) to square pixels in mm, so a 6.5 mm slice thickness does not
/// squash the coronal view; rows are flipped so that higher y and z voxel indices are drawn higher
/// (voxel axes as stored, not reoriented).
public enum EvaluationReportPicture {
    public struct Picture: Sendable {
        public let width: Int
        public let height: Int
        /// RGB, 3 bytes per pixel, top row first.
        public let pixels: [UInt8]
    }

    public static let referenceColour: [UInt8] = [40, 220, 40]
    public static let predictionColour: [UInt8] = [240, 40, 40]
    public static let bothColour: [UInt8] = [250, 230, 40]
    static let gap = 4

    /// `reference`, `prediction` and `image` are [1, nz, ny, nx] on one grid; `dice` names each
    /// evaluated label with its Dice for the title.
    public static func render(reference: Tensor, prediction: Tensor, image: Tensor?, spacingXYZ: [Double],
                              caseID: String = "", dice: [(label: String, dice: Double)] = []) -> Picture {
        let shape = Array(reference.shape.suffix(3))
        let nz = shape[0], ny = shape[1], nx = shape[2]
        let ref = reference.data, pred = prediction.data
        let slices = largestErrorSlices(ref, pred, shape: shape) ?? largestSlices(ref, shape: shape)
            ?? largestSlices(pred, shape: shape) ?? [nz / 2, ny / 2, nx / 2]
        let (sx, sy, sz) = (spacingXYZ[0], spacingXYZ[1], spacingXYZ[2])
        // Each view: rows, columns, their spacing, and the voxel index of (row, column).
        let views: [(rows: Int, cols: Int, rowMM: Double, colMM: Double, voxel: (Int, Int) -> Int)] = [
            (ny, nx, sy, sx, { r, c in (slices[0] * ny + (ny - 1 - r)) * nx + c }),            // axial
            (nz, nx, sz, sx, { r, c in ((nz - 1 - r) * ny + slices[1]) * nx + c }),            // coronal
            (nz, ny, sz, sy, { r, c in ((nz - 1 - r) * ny + c) * nx + slices[2] }),            // sagittal
        ]
        let extent = views.map { max(Double($0.rows) * $0.rowMM, Double($0.cols) * $0.colMM) }.max()!
        let natural = extent / max(spacingXYZ.min()!, 1e-6)
        let pixelMM = extent / min(max(natural, 192), 384)
        let window = image.map { greyWindow($0) }
        let referenceGreys = referenceShades(ref, count: reference.count)

        var panels = [(width: Int, height: Int, pixels: [UInt8])]()
        for view in views {
            let width = max(1, Int((Double(view.cols) * view.colMM / pixelMM).rounded()))
            let height = max(1, Int((Double(view.rows) * view.rowMM / pixelMM).rounded()))
            var refLabels = [Float](repeating: 0, count: width * height), predLabels = refLabels
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for i in 0..<height {
                let row = min(view.rows - 1, Int((Double(i) + 0.5) * pixelMM / view.rowMM))
                for j in 0..<width {
                    let col = min(view.cols - 1, Int((Double(j) + 0.5) * pixelMM / view.colMM))
                    let v = view.voxel(row, col)
                    refLabels[i * width + j] = ref[v]
                    predLabels[i * width + j] = pred[v]
                    let grey: UInt8
                    if let image, let window {
                        let t = (Double(image.data[v]) - window.low) / max(window.high - window.low, 1e-12)
                        grey = UInt8(max(0, min(255, (t * 255).rounded())))
                    } else {
                        grey = referenceGreys[ref[v]] ?? 0
                    }
                    pixels[(i * width + j) * 3] = grey
                    pixels[(i * width + j) * 3 + 1] = grey
                    pixels[(i * width + j) * 3 + 2] = grey
                }
            }
            let refEdge = outline(refLabels, width: width, height: height)
            let predEdge = outline(predLabels, width: width, height: height)
            for k in 0..<(width * height) where refEdge[k] || predEdge[k] {
                let colour = refEdge[k] && predEdge[k] ? bothColour : (refEdge[k] ? referenceColour : predictionColour)
                pixels[k * 3] = colour[0]
                pixels[k * 3 + 1] = colour[1]
                pixels[k * 3 + 2] = colour[2]
            }
            panels.append((width, height, pixels))
        }
        let titles = ["AXIAL Z=\(slices[0])", "CORONAL Y=\(slices[1])", "SAGITTAL X=\(slices[2])"]
        return annotate(compose(panels, titles: titles), caseID: caseID, dice: dice)
    }

    /// The slice index along z, y and x with the most voxels where the two maps differ; nil when
    /// they agree everywhere.
    static func largestErrorSlices(_ reference: UnsafePointer<Float>, _ prediction: UnsafePointer<Float>, shape: [Int]) -> [Int]? {
        let count = shape.reduce(1, *)
        var differs = [Float](repeating: 0, count: count)
        var any = false
        for i in 0..<count where reference[i] != prediction[i] { differs[i] = 1; any = true }
        guard any else { return nil }
        return differs.withUnsafeBufferPointer { largestSlices($0.baseAddress!, shape: shape) }
    }

    static let textScale = 2
    static let lineHeight = 7 * textScale

    /// The title (case id, then label Dice, wrapped to the width) above the panels and the colour
    /// legend below them.
    static func annotate(_ picture: Picture, caseID: String, dice: [(label: String, dice: Double)]) -> Picture {
        let columns = max(12, (picture.width - 8) / PixelFont.width("X", scale: textScale))
        var lines = caseID.isEmpty ? [] : ["CASE \(caseID)"]
        var current = "DICE:"
        for (label, value) in dice {
            let item = " \(label) \(value.isNaN ? "NAN" : String(format: "%.3f", value))"
            if current.count + item.count > columns { lines.append(current); current = "     " }
            current += item
        }
        if !dice.isEmpty { lines.append(current) }
        let legend: [(String, [UInt8])] = [("REFERENCE", referenceColour), ("PREDICTION", predictionColour), ("BOTH", bothColour)]
        let legendWidth = legend.reduce(0) { $0 + 16 + PixelFont.width($1.0, scale: textScale) + 12 }
        let width = max(picture.width, legendWidth + 8)
        let top = 6 + lines.count * lineHeight, bottom = lineHeight + 10
        var canvas = RGBCanvas(width: width, height: top + picture.height + bottom, background: 0)
        for (n, line) in lines.enumerated() {
            canvas.text(String(line.prefix(columns)), x: 4, y: 4 + n * lineHeight, scale: textScale, (255, 255, 255))
        }
        for row in 0..<picture.height {
            let src = row * picture.width * 3, dst = ((top + row) * width) * 3
            canvas.pixels.replaceSubrange(dst..<(dst + picture.width * 3), with: picture.pixels[src..<(src + picture.width * 3)])
        }
        var x = 4
        let y = top + picture.height + 6
        for (name, colour) in legend {
            canvas.fill(x, y, 10, 10, (colour[0], colour[1], colour[2]))
            canvas.text(name, x: x + 14, y: y, scale: textScale, (255, 255, 255))
            x += 16 + PixelFont.width(name, scale: textScale) + 12
        }
        return Picture(width: canvas.width, height: canvas.height, pixels: canvas.pixels)
    }

    /// The slice index along z, y and x with the most nonzero voxels; nil when all are zero.
    static func largestSlices(_ labels: UnsafePointer<Float>, shape: [Int]) -> [Int]? {
        let nz = shape[0], ny = shape[1], nx = shape[2]
        var countZ = [Int](repeating: 0, count: nz), countY = [Int](repeating: 0, count: ny * nz)
        var countX = [Int](repeating: 0, count: nx * nz)
        // Per z plane (in parallel): its own count and its y and x profiles, summed below.
        countZ.withUnsafeMutableBufferPointer { cz in
            countY.withUnsafeMutableBufferPointer { cy in
                countX.withUnsafeMutableBufferPointer { cx in
                    let z0 = cz.baseAddress!, y0 = cy.baseAddress!, x0 = cx.baseAddress!
                    Parallel.forEach(nz) { z in
                        var total = 0
                        for y in 0..<ny {
                            let row = labels + (z * ny + y) * nx
                            var inRow = 0
                            for x in 0..<nx where row[x] != 0 {
                                inRow += 1
                                x0[z * nx + x] += 1
                            }
                            y0[z * ny + y] = inRow
                            total += inRow
                        }
                        z0[z] = total
                    }
                }
            }
        }
        guard countZ.contains(where: { $0 > 0 }) else { return nil }
        let perY = (0..<ny).map { y in (0..<nz).reduce(0) { $0 + countY[$1 * ny + y] } }
        let perX = (0..<nx).map { x in (0..<nz).reduce(0) { $0 + countX[$1 * nx + x] } }
        func largest(_ counts: [Int]) -> Int { counts.indices.max { counts[$0] < counts[$1] }! }
        return [largest(countZ), largest(perY), largest(perX)]
    }

    /// Pixels of a label region that touch another label (4-neighbours) or the panel's edge.
    static func outline(_ labels: [Float], width: Int, height: Int) -> [Bool] {
        var edge = [Bool](repeating: false, count: labels.count)
        for i in 0..<height {
            for j in 0..<width {
                let v = labels[i * width + j]
                guard v != 0 else { continue }
                if i == 0 || j == 0 || i == height - 1 || j == width - 1
                    || labels[(i - 1) * width + j] != v || labels[(i + 1) * width + j] != v
                    || labels[i * width + j - 1] != v || labels[i * width + j + 1] != v {
                    edge[i * width + j] = true
                }
            }
        }
        return edge
    }

    /// The grey image's display window: its 1st to 99th percentile (from at most ~200k voxels).
    static func greyWindow(_ image: Tensor) -> (low: Double, high: Double) {
        let step = max(1, image.count / 200_000)
        var samples = [Float]()
        samples.reserveCapacity(image.count / step + 1)
        for i in stride(from: 0, to: image.count, by: step) where image.data[i].isFinite { samples.append(image.data[i]) }
        guard !samples.isEmpty else { return (0, 1) }
        samples.sort()
        let low = Double(samples[Int(Double(samples.count - 1) * 0.01)])
        let high = Double(samples[Int(Double(samples.count - 1) * 0.99)])
        return (low, high > low ? high : low + 1)
    }

    /// Without an image, the reference labels are the background: one grey per label value.
    static func referenceShades(_ labels: UnsafePointer<Float>, count: Int) -> [Float: UInt8] {
        var values = Set<Float>(), previous = Float.nan
        for i in 0..<count where labels[i] != previous {
            previous = labels[i]
            if previous != 0 { values.insert(previous) }
        }
        let sorted = values.sorted()
        var shades = [Float: UInt8]()
        for (rank, value) in sorted.enumerated() {
            shades[value] = UInt8(70 + 110 * (rank + 1) / sorted.count)
        }
        return shades
    }

    /// Panels side by side, top-aligned, separated by a black gap, each under its title.
    static func compose(_ panels: [(width: Int, height: Int, pixels: [UInt8])], titles: [String]) -> Picture {
        let width = panels.reduce(0) { $0 + $1.width } + gap * (panels.count - 1)
        let titleHeight = lineHeight + 2
        var canvas = RGBCanvas(width: width, height: panels.map(\.height).max()! + titleHeight, background: 0)
        var left = 0
        for (index, panel) in panels.enumerated() {
            canvas.text(titles[index], x: left + 2, y: 1, scale: textScale, (200, 200, 200))
            for i in 0..<panel.height {
                let src = i * panel.width * 3, dst = ((i + titleHeight) * width + left) * 3
                canvas.pixels.replaceSubrange(dst..<(dst + panel.width * 3), with: panel.pixels[src..<(src + panel.width * 3)])
            }
            left += panel.width + gap
        }
        return Picture(width: width, height: canvas.height, pixels: canvas.pixels)
    }
}
