// libnifti2 reads NIfTI-1 and NIfTI-2, .nii, .nii.gz and .hdr/.img. nifti2_io.h includes
// <znzlib.h> with angle brackets, so users of this module pass -I/usr/include/nifti (Package.swift).
#include <nifti/nifti2_io.h>
