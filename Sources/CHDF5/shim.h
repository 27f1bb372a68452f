// HDF5's serial build. Many of its "constants" are macros that expand to H5open() plus a global
// (H5T_NATIVE_FLOAT, H5P_DEFAULT, ...), which Swift cannot import; these wrappers expose them.
#include <hdf5/serial/hdf5.h>

static inline hid_t vs_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t vs_h5s_all(void) { return H5S_ALL; }
static inline unsigned vs_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned vs_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned vs_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hid_t vs_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t vs_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t vs_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t vs_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t vs_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t vs_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t vs_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t vs_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t vs_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline size_t vs_h5t_variable(void) { return H5T_VARIABLE; }

// Error stacks: HDF5 prints its whole stack to stderr on any failed call unless told not to. In the
// thread-safe build the setting is per thread, so VolSegIO calls this before each operation.
static inline void vs_h5e_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
static inline unsigned vs_h5f_obj_all(void) { return H5F_OBJ_ALL; }
