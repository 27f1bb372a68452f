import CNIfTI
import Foundation
import VolSegCore

/// Writes label maps and float maps on the grid of a reference scan, copying its geometry (qform,
/// sform, their codes, pixdim, units) so that the output overlays the scan in any viewer.
///
/// Files are written under a temporary name in the same folder (`AtomicFile`), checked (libnifti's
/// write results, the size on disk or the whole gzip stream, the header read back), flushed and
/// renamed into place, so an error never leaves a half-written file under the requested name.
public enum NIfTIWriter {
    /// Labels as uint8 (uint16 when a label exceeds 255), scl_slope 1 and scl_inter 0.
    /// `labels` is [D, H, W] or [1, D, H, W] on the reference grid; values must be whole numbers
    /// in 0...65535.
    public static func writeLabelMap(_ labels: Tensor, like reference: NIfTIHeader, to url: URL) throws {
        try checkGrid(labels, reference: reference, url: url, allowChannels: false)
        let count = labels.count, values = labels.data
        var largest: Float = 0
        for i in 0..<count {
            let v = values[i]
            guard v.isFinite, v >= 0, v == v.rounded() else {
                throw NIfTIError.invalidLabels(path: url.path, reason: "voxel \(i) holds \(v), not a label in 0...65535")
            }
            largest = max(largest, v)
        }
        guard largest <= 65535 else {
            throw NIfTIError.invalidLabels(path: url.path, reason: "label \(Int(largest)) exceeds 65535")
        }
        let wide = largest > 255
        let buffer = labelMapBuffer(voxels: count, wide: wide, planned: false)
        let raw = UnsafeMutableRawPointer(buffer.pointer!)
        if wide {
            let p = raw.bindMemory(to: UInt16.self, capacity: count)
            Parallel.forEachChunk(count, minimumChunk: 1 << 16) { r in for i in r { p[i] = UInt16(values[i]) } }
        } else {
            let p = raw.bindMemory(to: UInt8.self, capacity: count)
            Parallel.forEachChunk(count, minimumChunk: 1 << 16) { r in for i in r { p[i] = UInt8(values[i]) } }
        }
        try withExtendedLifetime(buffer) {
            try write(raw, datatype: wide ? NIfTIDatatype.uint16 : NIfTIDatatype.uint8, channels: 1, like: reference, to: url,
                      description: "VolSeg label map")
        }
    }

    /// The voxel buffer `writeLabelMap` fills: 1 byte a voxel (2 when a label exceeds 255), through
    /// the memory ledger, so that a planned run (`planLabelMapWrite`) counts what a real one uses.
    package static func labelMapBuffer(voxels: Int, wide: Bool, planned: Bool) -> ScratchBuffer<UInt8> {
        ScratchBuffer<UInt8>(count: voxels * (wide ? 2 : 1), planned: planned)
    }

    /// What writing a label map of `labels`' size with labels up to `largestLabel` adds to the
    /// ledger while it runs, for `--plan-memory`: call it where the real write would happen, with
    /// what the write keeps alive still alive.
    public static func planLabelMapWrite(_ labels: Tensor, largestLabel: Int) {
        withExtendedLifetime(labelMapBuffer(voxels: labels.count, wide: largestLabel > 255, planned: true)) {}
    }

    /// Float32 values (probabilities, logits) as [C, D, H, W] or [D, H, W] on the reference grid;
    /// C > 1 becomes a 4D file.
    public static func writeFloatMap(_ values: Tensor, like reference: NIfTIHeader, to url: URL) throws {
        try checkGrid(values, reference: reference, url: url, allowChannels: true)
        let channels = values.rank == 4 ? values.shape[0] : 1
        // libnifti writes straight from the tensor: no copy of a map that may be gigabytes.
        try withExtendedLifetime(values) {
            try write(UnsafeMutableRawPointer(values.data), datatype: NIfTIDatatype.float32, channels: channels, like: reference,
                      to: url, description: "VolSeg float map")
        }
    }

    private static func checkGrid(_ t: Tensor, reference: NIfTIHeader, url: URL, allowChannels: Bool) throws {
        let expected = Array(reference.spatialShape.reversed())
        let ok = (t.rank == 3 && t.shape == expected)
            || (t.rank == 4 && Array(t.shape[1...]) == expected && (allowChannels || t.shape[0] == 1))
        if !ok {
            throw NIfTIError.shapeMismatch(path: url.path, shape: t.shape, expected: expected,
                                           reference: "the reference scan's grid [D, H, W]")
        }
    }

    /// Writes `buffer` (owned by the caller, only read here) with the reference's geometry.
    private static func write(_ buffer: UnsafeMutableRawPointer, datatype: Int, channels: Int,
                              like reference: NIfTIHeader, to url: URL, description: String) throws {
        let spatial = reference.spatialShape
        // Always NIfTI-1: libnifti 2.1 writes a NIfTI-2 .nii without its header (checked: the file
        // holds only the voxels), and every 3D scan fits NIfTI-1's int16 dims. Geometry survives at
        // float32 precision, as in the NIfTI-1 files scans come in.
        if spatial.contains(where: { $0 > Int(Int16.max) }) || channels > Int(Int16.max) {
            throw NIfTIError.writeFailed(path: url.path, reason: "grid \(spatial) exceeds NIfTI-1's 32767 voxels per axis")
        }
        var dims: [Int64] = [channels > 1 ? 4 : 3, Int64(spatial[0]), Int64(spatial[1]), Int64(spatial[2]),
                             Int64(channels), 1, 1, 1]
        guard let nim = nifti_make_new_nim(&dims, Int32(datatype), 0) else {
            throw NIfTIError.writeFailed(path: url.path, reason: "libnifti could not create an image")
        }
        nim.pointee.data = buffer
        defer {
            nim.pointee.data = nil   // the caller's: nifti_image_free must not free it
            nifti_image_free(nim)
        }
        copyGeometry(from: reference, to: nim)
        nim.pointee.scl_slope = 1
        nim.pointee.scl_inter = 0
        setFixedString(&nim.pointee.descrip, description)

        try AtomicFile.checkFolder(of: url)
        let folder = url.deletingLastPathComponent()
        let temporary = AtomicFile.temporaryURL(for: url, keepingExtension: true)
        guard nifti_set_filenames(nim, temporary.path, 0, 1) == 0 else {
            throw NIfTIError.writeFailed(path: url.path, reason: "libnifti refused the file name")
        }
        // nifti_set_filenames picks the NIfTI-1 file type from the extension (.nii or .hdr/.img).
        // One file for .nii/.nii.gz; image then header for a .hdr/.img pair (header renamed last).
        let headerFile = String(cString: nim.pointee.fname), imageFile = String(cString: nim.pointee.iname)
        let temporaryPrefix = String(temporary.lastPathComponent.dropLast(url.lastPathComponent.count))
        let written = headerFile == imageFile ? [headerFile] : [imageFile, headerFile]
        func finalURL(_ file: String) -> URL {
            folder.appendingPathComponent(String(URL(fileURLWithPath: file).lastPathComponent.dropFirst(temporaryPrefix.count)))
        }
        do {
            try writeFiles(nim, to: url)
            let dataBytes = Int(nim.pointee.iname_offset) + Int(nim.pointee.nvox) * Int(nim.pointee.nbyper)
            for file in written {
                let target = finalURL(file), compressed = file.hasSuffix(".gz")
                // The image file's length is known exactly; a header of a pair is checked by reading it back.
                let expected = file == imageFile && !compressed ? dataBytes : nil
                try AtomicFile.flush(URL(fileURLWithPath: file), reportingAs: target, expectedBytes: expected)
                if file == imageFile && compressed { try NIfTIWholeFile.checkCompressedLength(file, expected: dataBytes, reportingAs: target) }
            }
            try checkHeader(headerFile, like: nim, reportingAs: finalURL(headerFile))
            for file in written { try AtomicFile.rename(URL(fileURLWithPath: file), to: finalURL(file)) }
        } catch {
            for file in written { unlink(file) }
            throw error
        }
    }

    /// Writes the header and then the voxels, checking libnifti's results (nifti_image_write
    /// reports nothing: a full disk used to leave a short file that looked written).
    private static func writeFiles(_ nim: UnsafeMutablePointer<nifti_image>, to url: URL) throws {
        let dataBytes = Int(nim.pointee.nvox) * Int(nim.pointee.nbyper)
        // libnifti sets the data offset (352 for a .nii) while it writes the header, so read it late.
        var needed: Int? { url.path.hasSuffix(".gz") ? nil : Int(nim.pointee.iname_offset) + dataBytes }
        errno = 0
        // Bit 0 off: header only; bit 1 on: the file (the image file of a pair) is left open at the data offset.
        var file = nifti_image_write_hdr_img(nim, 2, "wb")
        guard file != nil else {
            throw failure(errno, url: url, neededBytes: needed, otherwise: "libnifti could not write the header")
        }
        errno = 0
        let wrote = nifti_write_buffer(file!, nim.pointee.data, Int64(dataBytes))
        let writeError = errno
        FaultPoint.reached("write.partial", file: url.path)
        errno = 0
        let closed = Xznzclose(&file)
        let closeError = errno
        if wrote != Int64(dataBytes) {
            throw failure(writeError != 0 ? writeError : closeError, url: url, neededBytes: needed,
                          otherwise: "libnifti wrote \(wrote) of \(dataBytes) voxel bytes")
        }
        if closed != 0 {
            throw failure(closeError, url: url, neededBytes: needed, otherwise: "closing the file failed")
        }
    }

    /// The errno's reason when the system gave one, else what libnifti's result says.
    private static func failure(_ code: Int32, url: URL, neededBytes: Int?, otherwise reason: String) -> Error {
        code != 0 ? FileWriteError.systemError(path: url.path, code: code, neededBytes: neededBytes)
            : NIfTIError.writeFailed(path: url.path, reason: reason)
    }

    /// Reads the written header back: the dimensions and datatype must be those written.
    private static func checkHeader(_ file: String, like nim: UnsafeMutablePointer<nifti_image>, reportingAs url: URL) throws {
        guard let back = nifti_image_read(file, 0) else {
            throw FileWriteError.unreadable(path: url.path, reason: "libnifti cannot read its header")
        }
        let ok = back.pointee.nvox == nim.pointee.nvox && back.pointee.datatype == nim.pointee.datatype
        nifti_image_free(back)
        guard ok else { throw FileWriteError.unreadable(path: url.path, reason: "the header read back differs from the one written") }
    }

    /// qform (quaternion, offsets, qfac, code), sform (matrix, code), pixdim and units.
    static func copyGeometry(from h: NIfTIHeader, to nim: UnsafeMutablePointer<nifti_image>) {
        let spacing = (1...3).map { h.pixdim[$0] }
        withUnsafeMutableBytes(of: &nim.pointee.pixdim) { raw in
            let p = raw.bindMemory(to: Double.self)
            p[0] = h.qfac
            for i in 1...3 { p[i] = spacing[i - 1] }
            if h.dims.count > 3 { p[4] = h.pixdim[4] }
        }
        nim.pointee.dx = spacing[0]; nim.pointee.dy = spacing[1]; nim.pointee.dz = spacing[2]
        nim.pointee.qform_code = Int32(h.qformCode)
        nim.pointee.sform_code = Int32(h.sformCode)
        nim.pointee.quatern_b = h.quaternB
        nim.pointee.quatern_c = h.quaternC
        nim.pointee.quatern_d = h.quaternD
        nim.pointee.qoffset_x = h.qoffset[0]
        nim.pointee.qoffset_y = h.qoffset[1]
        nim.pointee.qoffset_z = h.qoffset[2]
        nim.pointee.qfac = h.qfac
        nim.pointee.qto_xyz = h.qform.dmat44
        nim.pointee.qto_ijk = nifti_dmat44_inverse(h.qform.dmat44)
        nim.pointee.sto_xyz = h.sform.dmat44
        nim.pointee.sto_ijk = nifti_dmat44_inverse(h.sform.dmat44)
        nim.pointee.xyz_units = Int32(h.xyzUnits)
        nim.pointee.time_units = Int32(h.timeUnits)
    }
}

/// Copies `text` into a fixed C char array, truncated and NUL-terminated.
func setFixedString<T>(_ field: inout T, _ text: String) {
    withUnsafeMutableBytes(of: &field) { raw in
        let bytes = Array(text.utf8.prefix(raw.count - 1))
        for i in 0..<raw.count { raw[i] = i < bytes.count ? bytes[i] : 0 }
    }
}
