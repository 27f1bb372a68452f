import ArgumentParser
import Foundation
import VolSegCore
import VolSegTraining

/// `volseg plan --config FILE --data DIR [--memory-budget SIZE] [--json]`: the patch, batch and
/// recomputed stages `volseg train` would use, and the memory they are predicted to need. The
/// options live in PlanCommand; this is the form's work.
enum TrainingRunPlanning {
    static func run(config: String, data: String, budget: Int?, json: Bool, common: CommonOptions) throws {
        common.apply()
        ResourceUsage.returnFreedMemoryToSystem()
        let pipeline = try PipelineConfig.load(URL(fileURLWithPath: config))
        let log: (String) -> Void = { message in
            if !common.quiet && !json { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        }
        let cases = try TrainingData.load(config: pipeline, folder: URL(fileURLWithPath: data), log: log)
        let plan = try MemoryPlanner(config: pipeline, data: PlanningData(cases)).plan(budget: budget)
        if json {
            let text = try JSONSerialization.data(withJSONObject: plan.json, options: [.sortedKeys])
            print(String(decoding: text, as: UTF8.self))
            return
        }
        print("patch \(plan.patchSizeXYZ.map(String.init).joined(separator: " ")) (x y z), batch \(plan.batchSize), "
            + (plan.recompute.isEmpty ? "no recomputed stages" : "recompute \(plan.recompute.joined(separator: " "))"))
        print("predicted peak \(MemorySize.describe(plan.predictedPeakBytes)): ledger \(MemorySize.format(plan.ledgerPeakBytes)) "
            + "(data cache \(MemorySize.format(plan.dataCacheBytes))) + reserve \(MemorySize.format(plan.reserveBytes))"
            + (budget.map { ", budget \(MemorySize.describe($0))" } ?? ""))
    }
}
