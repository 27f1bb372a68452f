#include <mpi.h>

/* Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros that cast
   the address of a global object; Swift imports no such macro, so each is returned by a function. */
static inline MPI_Comm vs_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype vs_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype vs_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype vs_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype vs_mpi_int(void) { return MPI_INT; }
static inline MPI_Op vs_mpi_sum(void) { return MPI_SUM; }
static inline void *vs_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler vs_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Status *vs_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Info vs_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Request vs_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline int vs_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int vs_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int vs_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
