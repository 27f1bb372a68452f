import Foundation
import VolSegCore
import VolSegIO

/// `RUN/report.html` of a training run: the loss per step and per epoch and the validation Dice
/// per structure as charts (SVG drawn here, from log.csv), the memory the run planned beside what
/// it measured, and the first validation cases as the final model segments them, in the viewer.
/// One self-contained file beside curves.png.
public enum TrainingReportPage {
    /// One row of log.csv, as the trainer writes it (TrainingLog).
    public struct Step {
        public let epoch: Int
        public let loss: Double
        public let validationDice: [Double]?
        public let ledgerPeakBytes: Int
        public let rssPeakBytes: Int

        public init(epoch: Int, loss: Double, validationDice: [Double]?, ledgerPeakBytes: Int, rssPeakBytes: Int) {
            self.epoch = epoch
            self.loss = loss
            self.validationDice = validationDice
            self.ledgerPeakBytes = ledgerPeakBytes
            self.rssPeakBytes = rssPeakBytes
        }
    }

    /// The plan's figures (nil where the run had no such figure, e.g. no budget).
    public struct Memory {
        public let plannedLedgerPeakBytes: Int
        public let reserveBytes: Int
        public let dataCacheBytes: Int
        public let budgetBytes: Int?

        public init(plannedLedgerPeakBytes: Int, reserveBytes: Int, dataCacheBytes: Int, budgetBytes: Int?) {
            self.plannedLedgerPeakBytes = plannedLedgerPeakBytes
            self.reserveBytes = reserveBytes
            self.dataCacheBytes = dataCacheBytes
            self.budgetBytes = budgetBytes
        }
    }

    /// log.csv's rows as steps: the header names the validation columns (`val_dice_<name>`).
    public static func steps(header: [String], rows: [[String]]) -> (structures: [String], steps: [Step]) {
        let structures = header.filter { $0.hasPrefix("val_dice_") }.map { String($0.dropFirst(9)) }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        let steps = rows.compactMap { row -> Step? in
            guard row.count == header.count, let e = column("epoch"), let l = column("loss"),
                  let epoch = Int(row[e]), let loss = Double(row[l]) else { return nil }
            let dice = structures.map { Double(row[column("val_dice_\($0)")!]) }
            return Step(epoch: epoch, loss: loss, validationDice: dice.allSatisfy { $0 == nil } ? nil : dice.map { $0 ?? .nan },
                        ledgerPeakBytes: column("ledger_peak_bytes").flatMap { Int(row[$0]) } ?? 0,
                        rssPeakBytes: column("rss_peak_bytes").flatMap { Int(row[$0]) } ?? 0)
        }
        return (structures, steps)
    }

    /// A validation case for the viewer: its id, Dice per structure and viewer volume.
    public struct Case {
        public let id: String
        public let dice: [Double]
        public let volume: ViewerVolume

        public init(id: String, dice: [Double], volume: ViewerVolume) {
            self.id = id
            self.dice = dice
            self.volume = volume
        }
    }

    public static func html(title: String, structures: [String], steps: [Step], memory: Memory, cases: [Case] = []) throws -> String {
        var epochLoss: [(Double, Double)] = []
        for epoch in Set(steps.map(\.epoch)).sorted() {
            let losses = steps.filter { $0.epoch == epoch }.map(\.loss)
            epochLoss.append((Double(epoch + 1), losses.reduce(0, +) / Double(losses.count)))
        }
        let loss = chart(title: "training loss", xLabel: "step", yLabel: "loss", series: [
            ("per step", steps.enumerated().map { (Double($0.offset + 1), $0.element.loss) }, 0),
            ("epoch mean (at the epoch's end)", epochLoss.map { ($0.0 * Double(steps.count) / Double(max(1, epochLoss.count)), $0.1) }, 1),
        ])
        let validated = steps.filter { $0.validationDice != nil }
        let dice = chart(title: "validation Dice", xLabel: "epoch", yLabel: "Dice", series: structures.enumerated().map { s, name in
            (name, validated.map { (Double($0.epoch + 1), $0.validationDice![s]) }.filter { !$0.1.isNaN }, s + 2)
        })
        let measuredLedger = steps.map(\.ledgerPeakBytes).max() ?? 0, measuredRSS = steps.map(\.rssPeakBytes).max() ?? 0
        let predicted = memory.plannedLedgerPeakBytes + memory.reserveBytes
        let rows: [(String, String)] = [
            ("planned ledger peak (a training step)", MemorySize.format(memory.plannedLedgerPeakBytes)),
            ("reserve outside the ledger", MemorySize.format(memory.reserveBytes)),
            ("data cache", MemorySize.format(memory.dataCacheBytes)),
            ("predicted process peak", MemorySize.format(predicted)),
            ("--memory-budget", memory.budgetBytes.map(MemorySize.format) ?? "none"),
            ("measured ledger peak", MemorySize.format(measuredLedger)),
            ("measured resident peak (RSS)", MemorySize.format(measuredRSS)),
        ]
        let table = "<table class=\"memory\">" + rows.map { "<tr><td>\(ReportPage.escaped($0.0))</td><td>\(ReportPage.escaped($0.1))</td></tr>" }.joined() + "</table>"
        var sections: [[String: Any]] = [["title": "Loss", "html": loss],
                                         ["title": "Validation", "html": validated.isEmpty ? "<p>no validation cases</p>" : dice],
                                         ["title": "Memory", "html": table]]
        var inline: [String: Any] = [:]
        if !cases.isEmpty {
            let header = "<tr><th>validation case (final model)</th>" + structures.map { "<th>Dice \(ReportPage.escaped($0))</th>" }.joined() + "</tr>"
            let rows = cases.map { item in
                "<tr><td><a href=\"#\" data-case=\"\(ReportPage.escaped(item.id))\">\(ReportPage.escaped(item.id))</a></td>"
                    + item.dice.map { "<td>\($0.isNaN ? "undefined" : String(format: "%.4f", $0))</td>" }.joined() + "</tr>"
            }.joined()
            sections.append(["title": "Validation cases", "html": "<table>\(header)\(rows)</table>"])
            for item in cases { inline[item.id] = try item.volume.payload(id: item.id) }
        }
        let data: [String: Any] = [
            "title": title, "table": false, "conventions": "", "labels": [], "means": [], "globalDice": [], "omitted": 0,
            "cases": cases.map { ["id": $0.id, "scores": [], "viewer": NSNull()] as [String: Any] },
            "inline": inline, "sections": sections,
        ]
        return ReportPage.html(title: title, data: ReportPage.json(data))
    }

    static let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    /// A line chart as inline SVG: axes with their ranges, one polyline per series, a legend.
    static func chart(title: String, xLabel: String, yLabel: String, series: [(String, [(Double, Double)], Int)]) -> String {
        let width = 640.0, height = 260.0, left = 60.0, bottom = 36.0, top = 14.0, right = 14.0
        let points = series.flatMap(\.1).filter { $0.0.isFinite && $0.1.isFinite }
        guard !points.isEmpty else { return "<p>no values</p>" }
        let xs = points.map(\.0), ys = points.map(\.1)
        let x0 = xs.min()!, x1 = max(xs.max()!, x0 + 1), y0 = min(ys.min()!, 0), y1 = max(ys.max()!, y0 + 1e-6)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom) }
        var svg = "<svg class=\"chart\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(ReportPage.escaped(title))\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width - left - right)\" height=\"\(height - top - bottom)\" fill=\"#fff\" stroke=\"#999\"/>"
        for (value, y) in [(y0, py(y0)), (y1, py(y1))] {
            svg += "<text x=\"\(left - 4)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.4g", value))</text>"
        }
        for (value, x) in [(x0, px(x0)), (x1, px(x1))] {
            svg += "<text x=\"\(x)\" y=\"\(height - bottom + 14)\" text-anchor=\"middle\" font-size=\"11\">\(String(format: "%.4g", value))</text>"
        }
        svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 4)\" text-anchor=\"middle\" font-size=\"12\">\(ReportPage.escaped(xLabel))</text>"
        svg += "<text x=\"12\" y=\"\((top + height - bottom) / 2)\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 12 \((top + height - bottom) / 2))\">\(ReportPage.escaped(yLabel))</text>"
        for (n, (name, values, colourIndex)) in series.enumerated() {
            let colour = colours[colourIndex % colours.count]
            let path = values.filter { $0.0.isFinite && $0.1.isFinite }.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
            svg += "<polyline data-series=\"\(ReportPage.escaped(name))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
            svg += "<text x=\"\(left + 8)\" y=\"\(top + 14 + 14 * Double(n))\" font-size=\"11\" fill=\"\(colour)\">\(ReportPage.escaped(name))</text>"
        }
        return svg + "</svg>"
    }
}
