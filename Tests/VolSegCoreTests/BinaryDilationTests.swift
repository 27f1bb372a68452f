import Foundation
@testable import VolSegCore
import XCTest

/// Binary dilation against a voxel-by-voxel definition (scipy's: the voxel or any neighbour of the
/// structure inside, off-grid voxels outside), the 18-connected components against a flood fill,
/// and both kernels on a BraTS-sized 240 x 240 x 155 grid.
final class BinaryDilationTests: XCTestCase {
    func naiveDilation(_ mask: [UInt8], shape: [Int], connectivity: Connectivity, iterations: Int) -> [UInt8] {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        var current = mask.map { $0 != 0 ? UInt8(1) : 0 }
        for _ in 0..<iterations {
            var next = current
            for z in 0..<nd { for y in 0..<nh { for x in 0..<nw where current[(z * nh + y) * nw + x] == 0 {
                search: for dz in -1...1 { for dy in -1...1 { for dx in -1...1 where connectivity.contains(dz: dz, dy: dy, dx: dx) {
                    let (zz, yy, xx) = (z + dz, y + dy, x + dx)
                    guard zz >= 0, zz < nd, yy >= 0, yy < nh, xx >= 0, xx < nw else { continue }
                    if current[(zz * nh + yy) * nw + xx] != 0 { next[(z * nh + y) * nw + x] = 1; break search }
                } } }
            } } }
            current = next
        }
        return current
    }

    func randomMask(_ shape: [Int], density: Float, seed: UInt64) -> [UInt8] {
        var rng = RandomGenerator(seed: seed)
        return (0..<shape.reduce(1, *)).map { _ in rng.nextUniform() < density ? 3 : 0 }   // nonzero, not 1
    }

    func testDilationMatchesTheVoxelDefinitionForEveryStructureAndIterationCount() {
        // 13 slices: several per worker, and odd sizes so rows and planes have no convenient width.
        let shape = [13, 11, 9]
        let mask = randomMask(shape, density: 0.03, seed: 5)
        for connectivity in Connectivity.allCases {
            for iterations in 0...3 {
                let ours = BinaryDilation.dilate(mask, shape: shape, connectivity: connectivity, iterations: iterations)
                XCTAssertEqual(ours, naiveDilation(mask, shape: shape, connectivity: connectivity, iterations: iterations),
                               "\(connectivity) x\(iterations)")
            }
        }
    }

    func testEighteenConnectedComponentsJoinEdgesButNotCorners() {
        var mask = [UInt8](repeating: 0, count: 27)
        // (z, y, x) = (0,0,0) and (0,1,1) share an edge; the centre shares a face with (0,1,1) and
        // only corners with (0,0,0) and (2,2,2).
        mask[0] = 1; mask[4] = 1; mask[13] = 1; mask[26] = 1
        let count = { (c: Connectivity) in mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: [3, 3, 3], connectivity: c).count } }
        XCTAssertEqual(count(.faces), 3)   // {(0,1,1), centre}, {(0,0,0)}, {(2,2,2)}
        XCTAssertEqual(count(.edges), 2)   // {(0,0,0), (0,1,1), centre}, {(2,2,2)}
        XCTAssertEqual(count(.corners), 1)
    }

    func testEighteenConnectedComponentsMatchDilationReachability() {
        // A component of an 18-connected labelling is closed under one 18-dilation restricted to the
        // mask: check that labels agree with repeatedly growing a seed inside the mask.
        let shape = [9, 10, 11]
        let mask = randomMask(shape, density: 0.3, seed: 9).map { $0 != 0 ? UInt8(1) : 0 }
        let components = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: .edges) }
        guard let seed = mask.firstIndex(of: 1) else { return XCTFail("empty mask") }
        var grown = [UInt8](repeating: 0, count: mask.count)
        grown[seed] = 1
        while true {
            let next = zip(BinaryDilation.dilate(grown, shape: shape, connectivity: .edges, iterations: 1), mask).map { $0 & $1 }
            if next == grown { break }
            grown = next
        }
        let first = components.component(at: seed)
        for i in 0..<mask.count where mask[i] != 0 {
            XCTAssertEqual(components.component(at: i) == first, grown[i] != 0, "voxel \(i)")
        }
        XCTAssertGreaterThan(components.count, 1)
    }

    func testBothKernelsOnABraTSSizedGrid() {
        let shape = [155, 240, 240], (nh, nw) = (240, 240)
        let total = shape.reduce(1, *)
        var mask = [UInt8](repeating: 0, count: total)
        func index(_ z: Int, _ y: Int, _ x: Int) -> Int { (z * nh + y) * nw + x }
        // One voxel in the middle, one in a corner of the grid, and a 26-connected diagonal chain.
        mask[index(77, 120, 120)] = 1
        mask[index(0, 0, 0)] = 1
        for t in 0..<20 { mask[index(20 + t, 30 + t, 200 + t)] = 1 }
        var start = Date()
        let dilated = BinaryDilation.dilate(mask, shape: shape, connectivity: .edges, iterations: 3)
        let dilationSeconds = Date().timeIntervalSince(start)
        // Three 18-steps reach offsets with max |d| <= 3 and |dx| + |dy| + |dz| <= 6.
        var ball = 0, corner = 0
        for dz in -3...3 { for dy in -3...3 { for dx in -3...3 where abs(dz) + abs(dy) + abs(dx) <= 6 {
            ball += 1
            XCTAssertEqual(dilated[index(77 + dz, 120 + dy, 120 + dx)], 1)
            if dz >= 0 && dy >= 0 && dx >= 0 { corner += 1 }
        } } }
        var around = 0
        for dz in -4...4 { for dy in -4...4 { for dx in -4...4 where dilated[index(77 + dz, 120 + dy, 120 + dx)] != 0 { around += 1 } } }
        XCTAssertEqual(around, ball)
        XCTAssertEqual(dilated[index(77, 120, 124)], 0)
        XCTAssertEqual(dilated[index(80, 123, 120)], 1)
        XCTAssertEqual(dilated[index(80, 123, 121)], 0)
        var cornerCount = 0
        for z in 0..<4 { for y in 0..<4 { for x in 0..<4 where dilated[index(z, y, x)] != 0 { cornerCount += 1 } } }
        XCTAssertEqual(cornerCount, corner)
        start = Date()
        let components = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: .corners) }
        let componentSeconds = Date().timeIntervalSince(start)
        XCTAssertEqual(components.count, 3)
        XCTAssertEqual(components.sizes.sorted(), [1, 1, 20])
        let faces = mask.withUnsafeBufferPointer { ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: .faces) }
        XCTAssertEqual(faces.count, 22)
        print(String(format: "240x240x155: dilation x3 (18) %.3f s, components (26) %.3f s", dilationSeconds, componentSeconds))
    }
}
