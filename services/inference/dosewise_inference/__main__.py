from dosewise.blas_threads import use_one_blas_thread

use_one_blas_thread()  # before anything imports numpy

from dosewise_inference.app import main  # noqa: E402

main()
