/* tsr-warp.c — being written */
