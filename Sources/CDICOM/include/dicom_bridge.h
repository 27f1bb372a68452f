// A small C API over DCMTK (C++), so that Swift reads DICOM files and writes DICOM Segmentation
// objects without C++ interoperability. Everything DICOM-specific that is a rule (which slices form
// a series, their order, the affine) is decided in Swift (VolSegIO's DICOM... files); this layer
// only reads elements, decodes pixel data and drives DCMTK's dcmseg writer.
#ifndef VOLSEG_DICOM_BRIDGE_H
#define VOLSEG_DICOM_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct VSDicomFile VSDicomFile;

/// Reads a DICOM file's dataset (large elements such as Pixel Data stay on disk until asked for).
/// Returns 0 and sets *file, or a non-zero code with the reason in message.
int vs_dicom_open(const char *path, VSDicomFile **file, char *message, size_t messageSize);
void vs_dicom_close(VSDicomFile *file);

/// The value of the element at a path of tags (group << 16 | element). Every tag but the last
/// names a sequence, and items[i] picks the item of tags[i] to descend into. Multi-valued
/// elements come back joined by backslashes, as DICOM stores them. Returns the value's length
/// (written to out, truncated to outSize - 1) or -1 when the element is absent.
long vs_dicom_string(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth,
                     char *out, size_t outSize);

/// 1 when the element at the path is present (its value is not read: Pixel Data stays on disk),
/// else 0.
int vs_dicom_has(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth);

/// The number of items of the sequence at the path (as above, the last tag the sequence), or -1
/// when it is absent.
long vs_dicom_item_count(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth);

/// The UID of the transfer syntax the file was stored in.
void vs_dicom_transfer_syntax(VSDicomFile *file, char *uid, size_t uidSize);

/// Decodes Pixel Data (all frames) to native little-endian samples. Returns 0 and a pointer into
/// the file's memory (valid until vs_dicom_close) and its length in bytes, or non-zero with the
/// reason (an encapsulated transfer syntax this DCMTK has no decoder for, no Pixel Data).
int vs_dicom_pixels(VSDicomFile *file, const uint8_t **data, size_t *bytes, char *message, size_t messageSize);

/// One segment of a Segmentation: its label and coded property category and type.
typedef struct {
    const char *label;
    const char *categoryCode, *categoryScheme, *categoryMeaning;
    const char *typeCode, *typeScheme, *typeMeaning;
} VSSegSegment;

/// What a binary DICOM Segmentation holds. Frames are rows x columns bytes (0 or 1), each with
/// its segment number (1-based), its slice's position (LPS, mm), its slice index (1-based, the
/// second dimension index) and the source frame it is derived from (an instance, and a 1-based
/// frame number in a multi-frame source or 0 for a single-frame one).
typedef struct {
    const char *sourceFile;               // a file of the source series: patient, study, frame of reference
    uint16_t rows, columns;
    const double *orientation;            // ImageOrientationPatient, 6 values
    const double *pixelSpacing;           // between rows, between columns (mm)
    double sliceThickness, spacingBetweenSlices;
    int segmentCount;
    const VSSegSegment *segments;
    int frameCount;
    const uint8_t *frames;
    const uint16_t *frameSegments;
    const double *framePositions;         // 3 per frame
    const uint32_t *frameSlices;
    const char *const *frameSourceClasses;
    const char *const *frameSourceInstances;
    const uint32_t *frameSourceFrames;
    int sourceCount;                      // every source instance, for the Referenced Series Sequence
    const char *const *sourceClasses;
    const char *const *sourceInstances;
    const char *seriesDescription, *softwareVersion, *algorithmName, *contentLabel;
    uint32_t seriesNumber;
} VSSegRequest;

/// Writes the Segmentation to path through DCMTK's dcmseg (explicit VR little endian).
/// Returns 0, or non-zero with the reason in message.
int vs_dicom_write_seg(const char *path, const VSSegRequest *request, char *message, size_t messageSize);

#ifdef __cplusplus
}
#endif

#endif
