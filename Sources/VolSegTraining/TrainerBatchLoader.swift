import Foundation
import VolSegCore

/// Builds training batches from seeds, one batch ahead on a background thread so that cutting
/// and augmenting patches overlaps the previous step. A batch depends only on its seed (sample i
/// draws from its own generator), so prefetching never changes what a run computes.
final class BatchLoader: @unchecked Sendable {
    let cases: [TrainingCase]
    let sampler: PatchSampler
    let augmenter: PatchAugmenter
    let channels: Int
    /// The samples of the sampler's batch this process builds (all of it, except on the ranks of a
    /// data-parallel run, which build their own share).
    let samples: Range<Int>
    private let queue = DispatchQueue(label: "volseg.batch-loader")
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var prepared: TrainingBatch?

    init(cases: [TrainingCase], sampler: PatchSampler, augmenter: PatchAugmenter, samples: Range<Int>? = nil) {
        precondition(!cases.isEmpty, "no training cases")
        self.samples = samples ?? 0..<sampler.batchSize
        precondition(self.samples.upperBound <= sampler.batchSize, "samples \(self.samples) of a batch of \(sampler.batchSize)")
        self.cases = cases
        self.sampler = sampler
        self.augmenter = augmenter
        channels = cases[0].channelCount
    }

    /// The batch of `seed`: images [B, C, D, H, W], class indices [B, 1, D, H, W].
    func makeBatch(seed: UInt64) -> TrainingBatch {
        let patch = sampler.patchSize, volume = patch.reduce(1, *), count = samples.count
        let image = Tensor.empty([count, channels] + patch), labels = Tensor.empty([count, 1] + patch)
        for (i, sample) in samples.enumerated() {
            var rng = RandomGenerator(seed: seed ^ (UInt64(sample + 1) &* 0x9E37_79B9_7F4A_7C15))
            let choice = sampler.choose(from: cases, sampleIndex: sample, rng: &rng)
            augmenter.makeSample(from: cases[choice.caseIndex], lower: choice.lower,
                                 image: image.data + i * channels * volume, labels: labels.data + i * volume, rng: &rng)
        }
        return TrainingBatch(image: image, labels: labels)
    }

    /// Starts building the batch of `seed` in the background.
    func prefetch(seed: UInt64) {
        group.enter()
        queue.async {
            let batch = self.makeBatch(seed: seed)
            self.lock.withLock { self.prepared = batch }
            self.group.leave()
        }
    }

    /// Waits for the batch started by the last `prefetch` and hands it over.
    func take() -> TrainingBatch {
        group.wait()
        return lock.withLock {
            let batch = prepared!
            prepared = nil
            return batch
        }
    }
}
