// DCMTK behind a C API (see include/dicom_bridge.h for what each call does).
#include "dicom_bridge.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmiod/iodreferences.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dcmtk/oflog/oflog.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct VSDicomFile {
    DcmFileFormat format;
    E_TransferSyntax original = EXS_Unknown;
};

namespace {

void writeMessage(char *message, size_t size, const std::string &text) {
    if (message == nullptr || size == 0) return;
    std::snprintf(message, size, "%s", text.c_str());
}

/// The decoders DCMTK has (JPEG baseline/extended/lossless, JPEG-LS, RLE) registered once per
/// process, and DCMTK's own log kept quiet: errors come back to Swift as messages instead.
void prepareDCMTK() {
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

DcmTagKey tagKey(uint32_t tag) { return DcmTagKey(Uint16(tag >> 16), Uint16(tag & 0xFFFF)); }

/// The item that holds the last tag of a path, or null when a sequence or item on the way is missing.
DcmItem *itemAtPath(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth) {
    DcmItem *item = file->format.getDataset();
    for (int level = 0; level + 1 < depth && item != nullptr; ++level) {
        DcmItem *next = nullptr;
        if (item->findAndGetSequenceItem(tagKey(tags[level]), next, static_cast<signed long>(items[level]), OFFalse).bad()) return nullptr;
        item = next;
    }
    return item;
}

std::string text(const OFString &value) { return std::string(value.c_str()); }

}  // namespace

extern "C" int vs_dicom_open(const char *path, VSDicomFile **file, char *message, size_t messageSize) {
    prepareDCMTK();
    auto opened = std::make_unique<VSDicomFile>();
    OFCondition status = opened->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
    if (status.bad()) {
        writeMessage(message, messageSize, std::string("not a readable DICOM file (DCMTK: ") + status.text() + ")");
        return 1;
    }
    opened->original = opened->format.getDataset()->getOriginalXfer();
    *file = opened.release();
    return 0;
}

extern "C" void vs_dicom_close(VSDicomFile *file) { delete file; }

extern "C" long vs_dicom_string(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth,
                                char *out, size_t outSize) {
    DcmItem *item = itemAtPath(file, tags, items, depth);
    if (item == nullptr) return -1;
    DcmElement *element = nullptr;
    if (item->findAndGetElement(tagKey(tags[depth - 1]), element, OFFalse).bad() || element == nullptr) return -1;
    OFString value;
    if (element->getOFStringArray(value).bad()) return -1;
    if (out != nullptr && outSize > 0) std::snprintf(out, outSize, "%s", value.c_str());
    return long(value.length());
}

extern "C" int vs_dicom_has(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth) {
    DcmItem *item = itemAtPath(file, tags, items, depth);
    return item != nullptr && item->tagExists(tagKey(tags[depth - 1]), OFFalse) ? 1 : 0;
}

extern "C" long vs_dicom_item_count(VSDicomFile *file, const uint32_t *tags, const uint32_t *items, int depth) {
    DcmItem *item = itemAtPath(file, tags, items, depth);
    if (item == nullptr) return -1;
    DcmElement *element = nullptr;
    if (item->findAndGetElement(tagKey(tags[depth - 1]), element, OFFalse).bad() || element == nullptr) return -1;
    if (element->ident() != EVR_SQ) return -1;
    return long(static_cast<DcmSequenceOfItems *>(element)->card());
}

extern "C" void vs_dicom_transfer_syntax(VSDicomFile *file, char *uid, size_t uidSize) {
    writeMessage(uid, uidSize, DcmXfer(file->original).getXferID());
}

extern "C" int vs_dicom_pixels(VSDicomFile *file, const uint8_t **data, size_t *bytes, char *message, size_t messageSize) {
    DcmDataset *dataset = file->format.getDataset();
    DcmXfer xfer(file->original);
    if (xfer.isEncapsulated()) {
        OFCondition status = dataset->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
        if (status.bad() || !dataset->canWriteXfer(EXS_LittleEndianExplicit)) {
            writeMessage(message, messageSize, std::string("its transfer syntax ") + xfer.getXferName() + " (" + xfer.getXferID()
                         + ") cannot be decoded by DCMTK (the free DCMTK decodes JPEG, JPEG-LS and RLE, not JPEG 2000): "
                         + "decompress the series first (e.g. with gdcmconv --raw)");
            return 1;
        }
    }
    DcmElement *element = nullptr;
    if (dataset->findAndGetElement(DCM_PixelData, element, OFFalse).bad() || element == nullptr) {
        writeMessage(message, messageSize, "it has no Pixel Data (7FE0,0010)");
        return 1;
    }
    // Loads the value from disk and byte-swaps it to the machine's order if it was stored big-endian.
    Uint8 *values = nullptr;
    OFCondition status = element->getUint8Array(values);
    if (status.bad() || values == nullptr) {
        writeMessage(message, messageSize, std::string("its Pixel Data could not be read (DCMTK: ") + status.text() + ")");
        return 1;
    }
    *data = values;
    *bytes = element->getLength();
    return 0;
}

namespace {

std::string joined(const double *values, int count) {
    std::string out;
    char buffer[64];
    for (int i = 0; i < count; ++i) {
        // DS values hold at most 16 characters.
        std::snprintf(buffer, sizeof buffer, "%.10g", values[i]);
        std::string value(buffer);
        if (value.size() > 16) {
            std::snprintf(buffer, sizeof buffer, "%.9g", values[i]);
            value = buffer;
        }
        if (i > 0) out += "\\";
        out += value;
    }
    return out;
}

std::string formatted(double value) { return joined(&value, 1); }

#define VS_CHECK(expression, what)                                                                  \
    do {                                                                                            \
        OFCondition vsStatus = (expression);                                                        \
        if (vsStatus.bad()) {                                                                       \
            writeMessage(message, messageSize, std::string(what) + " (DCMTK: " + vsStatus.text() + ")"); \
            return 1;                                                                               \
        }                                                                                           \
    } while (0)

}  // namespace

extern "C" int vs_dicom_write_seg(const char *path, const VSSegRequest *request, char *message, size_t messageSize) {
    prepareDCMTK();
    IODGeneralEquipmentModule::EquipmentInfo equipment("VolSeg", "volseg", "1", request->softwareVersion);
    ContentIdentificationMacro content("1", request->contentLabel, "VolSeg segmentation", "VolSeg");
    DcmSegmentation *created = nullptr;
    VS_CHECK(DcmSegmentation::createBinarySegmentation(created, request->rows, request->columns, equipment, content),
             "could not create the Segmentation");
    std::unique_ptr<DcmSegmentation> segmentation(created);

    // Patient, study and frame of reference come from the source series, so viewers file the SEG
    // beside the images it was made from.
    DcmFileFormat source;
    VS_CHECK(source.loadFile(OFFilename(request->sourceFile)), std::string("could not read ") + request->sourceFile);
    VS_CHECK(segmentation->importFromSourceImage(*source.getDataset()), "could not take over patient and study");
    segmentation->getSeries().setSeriesDescription(request->seriesDescription);
    segmentation->getSeries().setSeriesNumber(std::to_string(request->seriesNumber).c_str());

    for (int s = 0; s < request->segmentCount; ++s) {
        const VSSegSegment &described = request->segments[s];
        CodeSequenceMacro category(described.categoryCode, described.categoryScheme, described.categoryMeaning);
        CodeSequenceMacro type(described.typeCode, described.typeScheme, described.typeMeaning);
        DcmSegment *segment = nullptr;
        VS_CHECK(DcmSegment::create(segment, described.label, category, type, DcmSegTypes::SAT_AUTOMATIC, request->algorithmName),
                 std::string("could not describe segment ") + described.label);
        AlgorithmIdentificationMacro &algorithm = segment->getSegmentationAlgorithmIdentification();
        algorithm.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence");   // CID 7162
        algorithm.setAlgorithmName(request->algorithmName);
        algorithm.setAlgorithmVersion(request->softwareVersion);
        Uint16 number = 0;
        OFCondition added = segmentation->addSegment(segment, number);
        if (added.bad()) {
            delete segment;
            writeMessage(message, messageSize, std::string("could not add segment ") + described.label + " (DCMTK: " + added.text() + ")");
            return 1;
        }
    }

    FGPixelMeasures measures;
    VS_CHECK(measures.setPixelSpacing(joined(request->pixelSpacing, 2).c_str()), "pixel spacing");
    VS_CHECK(measures.setSliceThickness(formatted(request->sliceThickness).c_str()), "slice thickness");
    VS_CHECK(measures.setSpacingBetweenSlices(formatted(request->spacingBetweenSlices).c_str()), "spacing between slices");
    VS_CHECK(segmentation->addForAllFrames(measures), "pixel measures");
    const double *o = request->orientation;
    std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
        formatted(o[0]).c_str(), formatted(o[1]).c_str(), formatted(o[2]).c_str(),
        formatted(o[3]).c_str(), formatted(o[4]).c_str(), formatted(o[5]).c_str()));
    if (!orientation) { writeMessage(message, messageSize, "could not set the plane orientation"); return 1; }
    VS_CHECK(segmentation->addForAllFrames(*orientation), "plane orientation");

    // Frames are indexed by segment, then by slice position, as highdicom and dcmqi do.
    OFString dimensionUID;
    char uidBuffer[100];
    dimensionUID = dcmGenerateUniqueIdentifier(uidBuffer, SITE_INSTANCE_UID_ROOT);
    IODMultiframeDimensionModule &dimensions = segmentation->getDimensions();
    VS_CHECK(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, dimensionUID, DCM_SegmentIdentificationSequence,
                                          "ReferencedSegmentNumber"), "segment dimension");
    VS_CHECK(dimensions.addDimensionIndex(DCM_ImagePositionPatient, dimensionUID, DCM_PlanePositionSequence,
                                          "ImagePositionPatient"), "position dimension");

    const size_t frameSize = size_t(request->rows) * request->columns;
    CodeSequenceMacro derivationCode("113076", "DCM", "Segmentation");
    CodeSequenceMacro purpose("121322", "DCM", "Source image for image processing operation");
    for (int f = 0; f < request->frameCount; ++f) {
        const double *p = request->framePositions + 3 * f;
        std::unique_ptr<FGPlanePosPatient> position(FGPlanePosPatient::createMinimal(
            formatted(p[0]).c_str(), formatted(p[1]).c_str(), formatted(p[2]).c_str()));
        FGFrameContent frameContent;
        VS_CHECK(frameContent.setDimensionIndexValues(request->frameSegments[f], 0), "frame's segment index");
        VS_CHECK(frameContent.setDimensionIndexValues(request->frameSlices[f], 1), "frame's slice index");
        ImageSOPInstanceReferenceMacro reference;
        VS_CHECK(reference.setReferencedSOPClassUID(request->frameSourceClasses[f]), "source class");
        VS_CHECK(reference.setReferencedSOPInstanceUID(request->frameSourceInstances[f]), "source instance");
        if (request->frameSourceFrames[f] > 0) {
            VS_CHECK(reference.addReferencedFrameNumber(Uint16(request->frameSourceFrames[f])), "source frame");
        }
        OFVector<ImageSOPInstanceReferenceMacro> sources;
        sources.push_back(reference);
        std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
            sources, "Segmentation of the source images by a neural network", derivationCode, purpose));
        if (!position || !derivation) { writeMessage(message, messageSize, "could not describe a frame"); return 1; }
        OFVector<FGBase *> groups;
        groups.push_back(position.get());
        groups.push_back(&frameContent);
        groups.push_back(derivation.get());
        std::vector<Uint8> pixels(request->frames + f * frameSize, request->frames + (f + 1) * frameSize);
        VS_CHECK(segmentation->addFrame(pixels.data(), request->frameSegments[f], groups),
                 "could not add frame " + std::to_string(f + 1));
    }

    // Referenced Series Sequence: every instance of the source series.
    OFString patientID, studyUID, seriesUID;
    source.getDataset()->findAndGetOFString(DCM_PatientID, patientID);
    source.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, studyUID);
    source.getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, seriesUID);
    IODReferences references;
    for (int i = 0; i < request->sourceCount; ++i) {
        references.add(new IODImageReference(patientID, studyUID, seriesUID, request->sourceInstances[i], request->sourceClasses[i]));
    }
    if (segmentation->getCommonInstanceReference().addReferences(references, studyUID) != size_t(request->sourceCount)) {
        writeMessage(message, messageSize, "could not reference the source series' instances");
        return 1;
    }

    DcmFileFormat written;
    VS_CHECK(segmentation->writeDataset(*written.getDataset()), "could not assemble the Segmentation");
    // Each frame lies on its source slice's pixels: Spatial Locations Preserved = YES in every
    // Source Image item, which dcmseg's derivation macro leaves out and highdicom needs before it
    // maps frames back to the source instances.
    DcmSequenceOfItems *perFrame = nullptr;
    if (written.getDataset()->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, perFrame).good() && perFrame != nullptr) {
        for (unsigned long f = 0; f < perFrame->card(); ++f) {
            DcmSequenceOfItems *derivations = nullptr;
            if (perFrame->getItem(f)->findAndGetSequence(DCM_DerivationImageSequence, derivations).bad() || derivations == nullptr) continue;
            for (unsigned long d = 0; d < derivations->card(); ++d) {
                DcmSequenceOfItems *sources = nullptr;
                if (derivations->getItem(d)->findAndGetSequence(DCM_SourceImageSequence, sources).bad() || sources == nullptr) continue;
                for (unsigned long i = 0; i < sources->card(); ++i) {
                    VS_CHECK(sources->getItem(i)->putAndInsertString(DCM_SpatialLocationsPreserved, "YES"), "spatial locations preserved");
                }
            }
        }
    }
    VS_CHECK(written.saveFile(OFFilename(path), EXS_LittleEndianExplicit), std::string("could not write ") + path);
    return 0;
}
