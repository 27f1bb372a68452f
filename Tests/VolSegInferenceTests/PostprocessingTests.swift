import Foundation
@testable import VolSegCore
@testable import VolSegDatasets
@testable import VolSegIO
@testable import VolSegInference
import VolSegTestSupport
import XCTest

/// Connected components against a plain breadth-first flood fill, and the LiTS clean-up on a
/// constructed scene and on the real liver label map.
final class PostprocessingTests: XCTestCase {
    /// Component number per voxel (-1 background) by breadth-first search.
    func floodFill(_ mask: [UInt8], shape: [Int], connectivity: Connectivity) -> (labels: [Int], count: Int) {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        var labels = [Int](repeating: -1, count: mask.count), count = 0
        var offsets: [(Int, Int, Int)] = []
        for dz in -1...1 { for dy in -1...1 { for dx in -1...1 where (dz, dy, dx) != (0, 0, 0) {
            let distance = abs(dz) + abs(dy) + abs(dx)
            if connectivity == .corners || distance == 1 { offsets.append((dz, dy, dx)) }
        } } }
        for seed in 0..<mask.count where mask[seed] != 0 && labels[seed] < 0 {
            labels[seed] = count
            var queue = [seed], head = 0
            while head < queue.count {
                let i = queue[head]; head += 1
                let z = i / (nh * nw), y = (i / nw) % nh, x = i % nw
                for (dz, dy, dx) in offsets {
                    let (zz, yy, xx) = (z + dz, y + dy, x + dx)
                    guard zz >= 0, zz < nd, yy >= 0, yy < nh, xx >= 0, xx < nw else { continue }
                    let j = (zz * nh + yy) * nw + xx
                    if mask[j] != 0 && labels[j] < 0 { labels[j] = count; queue.append(j) }
                }
            }
            count += 1
        }
        return (labels, count)
    }

    func testComponentsMatchAFloodFillForBothConnectivities() {
        var rng = SyntheticRNG(seed: 21)
        // 23 slices: several slabs per worker, so slab boundaries are crossed many times.
        let shape = [23, 17, 19]
        for (connectivity, density) in [(Connectivity.faces, 0.45), (.corners, 0.18)] {
            let mask = (0..<shape.reduce(1, *)).map { _ in UInt8(rng.uniform(0, 1) < density ? 1 : 0) }
            let expected = floodFill(mask, shape: shape, connectivity: connectivity)
            let found = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: connectivity) }
            XCTAssertEqual(found.count, expected.count, "\(connectivity)")
            XCTAssertGreaterThan(expected.count, 10)
            // Same partition: the two numberings map one to one.
            var forward = [Int: Int](), sizes = [Int](repeating: 0, count: expected.count)
            for i in 0..<mask.count {
                let ours = found.component(at: i)
                XCTAssertEqual(ours == nil, expected.labels[i] < 0)
                guard let ours else { continue }
                if let seen = forward[ours] { XCTAssertEqual(seen, expected.labels[i]) } else { forward[ours] = expected.labels[i] }
                sizes[expected.labels[i]] += 1
            }
            XCTAssertEqual(Set(forward.values).count, forward.count)
            XCTAssertEqual(found.sizes.sorted(), sizes.sorted())
        }
    }

    func testDiagonalNeighboursJoinOnlyWithCornerConnectivity() {
        var mask = [UInt8](repeating: 0, count: 27)
        mask[0] = 1; mask[26] = 1; mask[13] = 1    // (0,0,0), (2,2,2) and the centre
        let faces = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: [3, 3, 3], connectivity: .faces) }
        let corners = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: [3, 3, 3], connectivity: .corners) }
        XCTAssertEqual(faces.count, 3)
        XCTAssertEqual(corners.count, 1)
        XCTAssertEqual(corners.sizes, [3])
    }

    /// A 20 x 20 x 20 scene: a liver block with an enclosed cavity and a tumour inside, a notch
    /// open to the outside, a small separate liver blob, and a tumour blob outside the liver.
    func testLiTSKeepsTheLargestLiverFillsCavitiesAndDropsTumourOutside() {
        let n = 20
        let labels = Tensor.zeros([1, n, n, n])
        func set(_ z: ClosedRange<Int>, _ y: ClosedRange<Int>, _ x: ClosedRange<Int>, _ v: Float) {
            for a in z { for b in y { for c in x { labels[0, a, b, c] = v } } }
        }
        set(2...12, 2...12, 2...12, 1)          // liver
        set(5...7, 5...7, 5...7, 0)             // enclosed cavity
        set(9...10, 9...10, 9...10, 2)          // tumour inside the liver
        set(2...4, 2...4, 2...4, 0)             // a notch at the corner, open to the outside
        set(16...18, 16...18, 16...18, 1)       // a second, smaller liver piece
        set(15...17, 2...3, 15...16, 2)         // tumour away from any liver
        let before = labels.toArray()
        let cleaned = LiTSPostprocessing().apply(labels)
        XCTAssertEqual(cleaned.shape, labels.shape)
        XCTAssertEqual(cleaned[0, 6, 6, 6], 1, "cavity filled with liver")
        XCTAssertEqual(cleaned[0, 9, 9, 9], 2, "tumour inside the liver kept")
        XCTAssertEqual(cleaned[0, 3, 3, 3], 0, "an open notch is not a cavity")
        XCTAssertEqual(cleaned[0, 17, 17, 17], 0, "smaller liver piece removed")
        XCTAssertEqual(cleaned[0, 16, 2, 15], 0, "tumour outside the liver removed")
        // Everything else is as predicted.
        var changed = 0
        for (a, b) in zip(before, cleaned.toArray()) where a != b { changed += 1 }
        XCTAssertEqual(changed, 27 + 27 + 3 * 2 * 2)
        XCTAssertEqual(labels.toArray(), before, "the input is left alone")
    }

    func testLiTSOnTheRealLabelMapKeepsTheLiverAndItsTumours() throws {
        guard let url = TestPaths.sharedFile("data/liver117/seg.nii.gz") else { throw XCTSkip("../shared absent") }
        let seg = try NIfTIReader.read(url).voxels
        let cleaned = LiTSPostprocessing().apply(seg)
        var liverBefore = 0, liverAfter = 0, tumourBefore = 0, tumourAfter = 0
        for i in 0..<seg.count {
            if seg.data[i] > 0 { liverBefore += 1 }; if cleaned.data[i] > 0 { liverAfter += 1 }
            if seg.data[i] == 2 { tumourBefore += 1 }; if cleaned.data[i] == 2 { tumourAfter += 1 }
        }
        print("liver117 reference: liver region \(liverBefore) -> \(liverAfter) voxels, tumour \(tumourBefore) -> \(tumourAfter)")
        // A reference mask is one liver: at most a few stray voxels change.
        XCTAssertEqual(Double(liverAfter), Double(liverBefore), accuracy: 0.01 * Double(liverBefore))
        XCTAssertEqual(Double(tumourAfter), Double(tumourBefore), accuracy: 0.01 * Double(tumourBefore))
    }

    func testPlannedPostprocessingAllocatesWhatARealOneDoes() {
        let real = Tensor.zeros([1, 16, 16, 16])
        for i in 0..<real.count where i % 7 < 3 { real.data[i] = 1 }
        let realPeak = MemoryLedger.shared.measurePeak { _ = LiTSPostprocessing().apply(real) }.peakBytes
        let plannedPeak = MemoryLedger.shared.measurePeak { _ = LiTSPostprocessing().apply(Tensor.planned([1, 16, 16, 16])) }.peakBytes
        // A real run also allocates the cavity search's box, which depends on the values; the plan
        // assumes the whole grid for it, so it is an upper bound.
        XCTAssertGreaterThanOrEqual(plannedPeak, realPeak)
    }
}
