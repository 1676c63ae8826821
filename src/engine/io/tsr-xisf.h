/* tsr-xisf.h — XISF 1.0 input and output (PixInsight's Extensible Image Serialization Format).
 *
 * Read: the first <Image> of a monolithic XISF file; 2-D geometry with 1 (Gray) or 3 (RGB)
 * nominal channels (alpha channels after them are ignored); UInt8, UInt16, UInt32, Float32
 * and Float64 samples, planar or normal (interleaved) storage, little or big endian; data
 * attached (attachment:POS:SIZE) or inline (base64/hex), uncompressed or compressed with
 * zlib, lz4 or lz4hc, byte-shuffled or not (+sh), in sub-blocks or not; the block checksum
 * (sha1, sha256, sha512) verified on whole-image reads. Samples stay in the units of the file
 * (0–65535 for UInt16, the file's own range for floats), as the FITS reader does.
 *
 * The image's <FITSKeyword> elements become header cards; properties and attributes that
 * have no keyword among them become the FITS keywords the rest of Tessera reads:
 * Instrument:ExposureTime → EXPTIME, Observation:Time:Start → DATE-OBS,
 * Instrument:Sensor:Temperature → CCD-TEMP, Instrument:Camera:Gain → GAIN,
 * Instrument:Camera:XBinning/YBinning → XBINNING/YBINNING, imageType → IMAGETYP and a 2×2
 * <ColorFilterArray> → BAYERPAT. The frame info is then derived exactly as for FITS.
 *
 * A missing, truncated or damaged file, or one that is not XISF, gives one TSR_ERROR line
 * naming the file. The decoded size is checked against what the file can hold (the
 * attachment's size, times the largest ratio the codec reaches) before anything of image
 * size is allocated. */
#pragma once
#include <gio/gio.h>
#include "tsr-fits.h"

G_BEGIN_DECLS

/* .xisf (case-insensitive) */
gboolean  tsr_is_xisf_name (const char *name);

gboolean  tsr_xisf_read_info (const char *path, TsrFitsInfo *info, TsrHeader **header_out, GError **error);
TsrImage *tsr_xisf_read (const char *path, GError **error);
/* Rows [y0, y1) of every channel (an uncompressed planar attachment is read row by row; a
 * compressed one is decoded whole and cropped). */
TsrImage *tsr_xisf_read_rows (const char *path, int y0, int y1, GError **error);

/* Write img (mono or RGB; a mosaic as Gray with its <ColorFilterArray>) as a monolithic XISF
 * 1.0 file: Float32 samples as they are, planar, uncompressed, one attached block aligned to
 * 4 KiB, memory row 0 as the top row (as the TIFF and PNG outputs), bounds = the valid
 * samples' range, the header's cards as <FITSKeyword> elements (structural keywords left
 * out), XISF:CreatorApplication and XISF:CreationTime. Written to a temporary name in the
 * target's folder, synced and renamed, so an existing file is never half-overwritten. */
gboolean  tsr_xisf_write (const char *path, const TsrImage *img, GError **error);

G_END_DECLS
