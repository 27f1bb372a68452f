import Foundation

/// A fully connected layer (PyTorch's `linear`): y = x W^T + b, for `x` [..., in] (any leading
/// dimensions, flattened into rows), `weight` [out, in] and an optional `bias` [out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.rank >= 1 && weight.rank == 2 && x.shape.last == weight.shape[1],
                 "linear: input \(x.shape) must end in \(weight.shape.count == 2 ? weight.shape[1] : -1) features for weight \(weight.shape) [out, in]")
    let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
    if let bias {
        precondition(bias.shape == [outFeatures], "linear: bias must be [\(outFeatures)], got \(bias.shape)")
    }
    let rows = x.count / max(1, inFeatures)
    let outShape = Array(x.shape.dropLast()) + [outFeatures]
    let planned = x.isPlanned || weight.isPlanned || (bias?.isPlanned ?? false)
    let y = Tensor.empty(outShape, planned: planned)
    if !planned {
        let yp = y.data
        if let bias {
            let bp = bias.data
            for r in 0..<rows { (yp + r * outFeatures).update(from: bp, count: outFeatures) }
        }
        BLAS.sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x.data, lda: inFeatures,
                   b: weight.data, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: yp, ldc: outFeatures)
    }
    let needsInput = x.needsGrad, needsWeight = weight.needsGrad, needsBias = bias?.needsGrad ?? false
    guard GradMode.isEnabled && (needsInput || needsWeight || needsBias) else { return y }
    let xSaved = needsWeight ? x.detached() : nil
    let wSaved = needsInput ? weight.detached() : nil
    let inputShape = x.shape, hasBias = bias != nil
    return Tensor.record("linear", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
        var gx: Tensor?, gw: Tensor?, gb: Tensor?
        let planned = gy.isPlanned
        if let wSaved {
            let g = Tensor.empty(inputShape, planned: planned)
            if !planned {
                BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures, a: gy.data, lda: outFeatures,
                           b: wSaved.data, ldb: inFeatures, c: g.data, ldc: inFeatures)
            }
            gx = g
        }
        if let xSaved {
            let g = Tensor.empty([outFeatures, inFeatures], planned: planned)
            if !planned {
                BLAS.sgemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: gy.data, lda: outFeatures,
                           b: xSaved.data, ldb: inFeatures, c: g.data, ldc: inFeatures)
            }
            gw = g
        }
        if needsBias {
            // Column sums over the rows, in Float64.
            let g = Tensor.empty([outFeatures], planned: planned)
            if !planned {
                let gyp = gy.data, gp = g.data
                Parallel.forEachChunk(outFeatures, minimumChunk: 64) { columns in
                    for o in columns {
                        var s = 0.0
                        for r in 0..<rows { s += Double(gyp[r * outFeatures + o]) }
                        gp[o] = Float(s)
                    }
                }
            }
            gb = g
        }
        return [gx, gw] + (hasBias ? [gb] : [])
    }
}
