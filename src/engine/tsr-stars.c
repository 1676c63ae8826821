/* tsr-stars.c — being written */
