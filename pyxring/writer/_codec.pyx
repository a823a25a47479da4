# distutils: libraries = z zstd lz4
"""Compression between the records and the output: gzip (zlib), zstd, lz4.

``CodecOutput`` is an output stage whose buffer holds records (they never
span two of its buffers).  Each full buffer (and each flush) is compressed
so that everything up to it can be decoded from the file alone, whatever
happens next: gzip writes a complete member per buffer (gzip and tshark
read members one after another); zstd and LZ4 write one frame, flushed
(``ZSTD_e_flush``, ``LZ4F_flush``) after each buffer and ended at close,
because tshark 4.0 loses its place between zstd frames.  The end of each
buffer is a cut point of the output after this stage.  A capture that is
killed leaves a file that decodes up to its last buffer; a file cut after a
failed write gets the bytes that end a zstd or LZ4 frame there
(``stream_end``), so it is a complete file.

``Decompressor`` is the other direction, for reading: ``feed()`` compressed
bytes, ``read_into()`` what they decode to.  Concatenated gzip members,
zstd frames and LZ4 frames are read one after another.
"""
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from pyxring.includes.codecs cimport (
    z_stream, deflateInit2, deflate, deflateReset, deflateEnd, inflateInit2, inflate, inflateReset,
    inflateEnd, Z_OK, Z_STREAM_END, Z_BUF_ERROR, Z_NO_FLUSH, Z_FINISH, Z_DEFLATED,
    Z_DEFAULT_STRATEGY,
    ZSTD_CCtx, ZSTD_DCtx, ZSTD_inBuffer, ZSTD_outBuffer, ZSTD_e_flush, ZSTD_e_end,
    ZSTD_c_compressionLevel, ZSTD_createCCtx, ZSTD_freeCCtx, ZSTD_CCtx_setParameter,
    ZSTD_compressStream2, ZSTD_createDCtx, ZSTD_freeDCtx, ZSTD_decompressStream, ZSTD_isError,
    ZSTD_getErrorName,
    LZ4F_cctx, LZ4F_dctx, LZ4F_preferences_t, LZ4F_VERSION, LZ4F_createCompressionContext,
    LZ4F_freeCompressionContext, LZ4F_compressBegin, LZ4F_compressUpdate, LZ4F_flush,
    LZ4F_compressEnd, LZ4F_createDecompressionContext, LZ4F_freeDecompressionContext,
    LZ4F_decompress, LZ4F_isError, LZ4F_getErrorName)
from pyxring.writer._output cimport Output, output_mark, NO_MARK

from pyxring.errors import PyxringError

cdef enum:
    GZIP = 1
    ZSTD = 2
    LZ4 = 3
    CHUNK = 64 * 1024            # input per compression call (LZ4's block size)
    GZIP_WBITS = 15 + 16         # a gzip wrapper, not a bare zlib stream

CODECS = {"gzip": GZIP, "zstd": ZSTD, "lz4": LZ4}
DEFAULT_LEVELS = {"gzip": 1, "zstd": 1, "lz4": 0}     # fast: they run in the capture loop


cdef class CodecOutput(Output):
    """Compresses what it is given into the output stage ``down``."""
    cdef readonly Output down
    cdef readonly str codec
    cdef int kind
    cdef z_stream zs
    cdef bint zs_ready
    cdef ZSTD_CCtx *zc
    cdef LZ4F_cctx *lc
    cdef LZ4F_preferences_t prefs
    cdef uint8_t *tmp
    cdef size_t tmp_size
    cdef readonly unsigned long long bytes_in
    cdef object interrupted      # an exception of the next stage, kept until the buffer is done

    def __init__(self, Output down, str codec, level=None, size_t buffer_size=1 << 20):
        cdef int rc
        cdef size_t n
        if codec not in CODECS:
            raise ValueError(f"unknown compression {codec!r} (choose gzip, zstd or lz4)")
        self.down = down
        self.codec = codec
        self.kind = CODECS[codec]
        self.path = down.path
        self.engine = f"{codec} + {down.engine}"
        lvl = DEFAULT_LEVELS[codec] if level is None else int(level)
        self.buf = <uint8_t *>malloc(buffer_size)
        self.tmp_size = 2 * CHUNK + 4096
        self.tmp = <uint8_t *>malloc(self.tmp_size)
        if self.buf == NULL or self.tmp == NULL:
            raise MemoryError()
        self.cap = buffer_size
        if self.kind == GZIP:
            memset(&self.zs, 0, sizeof(z_stream))
            if deflateInit2(&self.zs, lvl, Z_DEFLATED, GZIP_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK:
                raise PyxringError(f"gzip: can't start a stream at level {lvl}")
            self.zs_ready = True
        elif self.kind == ZSTD:
            self.zc = ZSTD_createCCtx()
            if self.zc == NULL:
                raise MemoryError()
            if ZSTD_isError(ZSTD_CCtx_setParameter(self.zc, ZSTD_c_compressionLevel, lvl)):
                raise PyxringError(f"zstd: bad compression level {lvl}")
        else:
            if LZ4F_isError(LZ4F_createCompressionContext(&self.lc, LZ4F_VERSION)):
                raise MemoryError()
            memset(&self.prefs, 0, sizeof(self.prefs))
            self.prefs.compressionLevel = lvl
            self.prefs.autoFlush = 1
            self._lz4_begin()
        # what ends the stream at any cut point (after a failed write)
        self.down.stream_end = {GZIP: None, ZSTD: b"\x01\x00\x00",       # empty last block
                                LZ4: b"\x00\x00\x00\x00"}[self.kind]      # EndMark

    def __dealloc__(self):
        if self.zs_ready:
            deflateEnd(&self.zs)
        if self.zc != NULL:
            ZSTD_freeCCtx(self.zc)
        if self.lc != NULL:
            LZ4F_freeCompressionContext(self.lc)
        free(self.buf)
        free(self.tmp)

    cdef int _lz4_begin(self) except -1:
        cdef size_t n = LZ4F_compressBegin(self.lc, self.tmp, self.tmp_size, &self.prefs)
        if LZ4F_isError(n):
            raise PyxringError(f"lz4: {LZ4F_getErrorName(n).decode()}")
        self.down.write_bytes(self.tmp, n)
        return 0

    cdef int _compress(self, const uint8_t *src, size_t n, bint last) except -1:
        """Compress ``n`` bytes so that all of it can be decoded from what
        is handed on: a gzip member, or a flushed (``last``: ended) frame."""
        cdef size_t k, r
        cdef int rc = Z_OK
        cdef ZSTD_inBuffer zin
        cdef ZSTD_outBuffer zout
        if self.kind == GZIP:
            if n == 0:
                return 0                        # no empty members
            self.zs.next_in = src
            self.zs.avail_in = <unsigned>n
            while rc != Z_STREAM_END:
                self.zs.next_out = self.tmp
                self.zs.avail_out = <unsigned>self.tmp_size
                with nogil:
                    rc = deflate(&self.zs, Z_FINISH)
                if rc != Z_OK and rc != Z_STREAM_END and rc != Z_BUF_ERROR:
                    raise PyxringError(f"gzip: compression failed ({rc})")
                self._pass_on(self.tmp, self.tmp_size - self.zs.avail_out)
            deflateReset(&self.zs)              # the next member starts with its own header
        elif self.kind == ZSTD:
            zin.src = src
            zin.size = n
            zin.pos = 0
            r = 1
            while r != 0:
                zout.dst = self.tmp
                zout.size = self.tmp_size
                zout.pos = 0
                with nogil:
                    r = ZSTD_compressStream2(self.zc, &zout, &zin,
                                             ZSTD_e_end if last else ZSTD_e_flush)
                if ZSTD_isError(r):
                    raise PyxringError(f"zstd: {ZSTD_getErrorName(r).decode()}")
                self._pass_on(self.tmp, zout.pos)
        else:
            while n:
                k = n if n < CHUNK else CHUNK
                with nogil:
                    r = LZ4F_compressUpdate(self.lc, self.tmp, self.tmp_size, src, k, NULL)
                if LZ4F_isError(r):
                    raise PyxringError(f"lz4: {LZ4F_getErrorName(r).decode()}")
                self._pass_on(self.tmp, r)
                src += k
                n -= k
            with nogil:
                r = (LZ4F_compressEnd(self.lc, self.tmp, self.tmp_size, NULL) if last else
                     LZ4F_flush(self.lc, self.tmp, self.tmp_size, NULL))
            if LZ4F_isError(r):
                raise PyxringError(f"lz4: {LZ4F_getErrorName(r).decode()}")
            self._pass_on(self.tmp, r)
        return 0

    cdef int _hand_on(self, bint last) except -1:
        cdef bint whole = self.last_mark != NO_MARK and self.last_mark == self.fill
        cdef uint64_t records = self.last_mark_records
        if self.down.failed_errno:
            self.down.fail(self.down.failed_errno, "")
        self.interrupted = None
        self._compress(self.buf, self.fill, last)
        self.bytes_in += self.fill
        self.offset += self.fill
        self.fill = 0
        self.begin_buffer()
        if whole:
            output_mark(self.down, records)     # decodable up to here, on a record
        if self.interrupted is not None:
            # the whole buffer is compressed (what did not fit waits in the
            # next stage's overflow); now the interruption may go on
            exc, self.interrupted = self.interrupted, None
            raise exc
        return 0

    cdef int _pass_on(self, const uint8_t *p, size_t n) except -1:
        """Hand compressed bytes on; an interruption of the next stage is
        kept until this buffer is done, so the stream stays whole."""
        try:
            self.down.write_bytes(p, n)
        except (KeyboardInterrupt, Exception) as exc:
            if self.down.failed_errno:
                raise
            if self.interrupted is None:
                self.interrupted = exc
        return 0

    cdef int _commit(self) except -1:
        return self._hand_on(False)

    cdef int _flush(self) except -1:
        if self.fill:
            self._hand_on(False)
        return self.down.flush()

    cdef int _finish(self) except -1:
        try:
            if not self.down.failed_errno:
                self._hand_on(True)
        finally:
            self.finished = True
            self.down.finish()
        return 0

    def set_deadline(self, timeout):
        self.down.set_deadline(timeout)

    def stats(self):
        st = dict(self.down.stats())
        st["compression"] = self.codec
        return st


cdef class Decompressor:
    """Streaming decompression of gzip, zstd or lz4 data."""
    cdef int kind
    cdef readonly str codec
    cdef z_stream zs
    cdef bint zs_ready
    cdef ZSTD_DCtx *zd
    cdef LZ4F_dctx *ld
    cdef bytes pending          # compressed input not consumed yet
    cdef size_t pos
    cdef readonly bint at_boundary   # the input so far ends where a stream/frame ends
    cdef readonly unsigned long long bytes_out

    def __init__(self, str codec):
        if codec not in CODECS:
            raise ValueError(f"unknown compression {codec!r}")
        self.codec = codec
        self.kind = CODECS[codec]
        self.pending = b""
        self.at_boundary = True
        if self.kind == GZIP:
            memset(&self.zs, 0, sizeof(z_stream))
            if inflateInit2(&self.zs, GZIP_WBITS) != Z_OK:
                raise MemoryError()
            self.zs_ready = True
        elif self.kind == ZSTD:
            self.zd = ZSTD_createDCtx()
            if self.zd == NULL:
                raise MemoryError()
        elif LZ4F_isError(LZ4F_createDecompressionContext(&self.ld, LZ4F_VERSION)):
            raise MemoryError()

    def __dealloc__(self):
        if self.zs_ready:
            inflateEnd(&self.zs)
        if self.zd != NULL:
            ZSTD_freeDCtx(self.zd)
        if self.ld != NULL:
            LZ4F_freeDecompressionContext(self.ld)

    def feed(self, bytes data):
        """Add compressed input (after what is left of the previous feed)."""
        self.pending = self.pending[self.pos:] + data
        self.pos = 0

    @property
    def needs_input(self):
        return self.pos >= len(self.pending)

    def read_into(self, unsigned char[::1] out):
        """Decode into ``out``; returns the number of bytes written (0 when
        more input is needed).  Raises ValueError on corrupt data."""
        cdef const uint8_t *src = self.pending
        cdef size_t avail = len(self.pending) - self.pos
        cdef size_t produced = 0, consumed = 0, r, dst_size, src_size
        cdef int rc
        cdef ZSTD_inBuffer zin
        cdef ZSTD_outBuffer zout
        if avail == 0 or out.shape[0] == 0:
            return 0
        src += self.pos
        if self.kind == GZIP:
            self.zs.next_in = src
            self.zs.avail_in = <unsigned>avail
            self.zs.next_out = &out[0]
            self.zs.avail_out = <unsigned>out.shape[0]
            with nogil:
                rc = inflate(&self.zs, Z_NO_FLUSH)
            consumed = avail - self.zs.avail_in
            produced = out.shape[0] - self.zs.avail_out
            if rc == Z_STREAM_END:
                inflateReset(&self.zs)          # another member may follow
                self.at_boundary = True
            elif rc == Z_OK or rc == Z_BUF_ERROR:
                self.at_boundary = False
            else:
                msg = self.zs.msg.decode() if self.zs.msg != NULL else str(rc)
                raise ValueError(f"corrupt gzip data: {msg}")
        elif self.kind == ZSTD:
            zin.src = src
            zin.size = avail
            zin.pos = 0
            zout.dst = &out[0]
            zout.size = out.shape[0]
            zout.pos = 0
            with nogil:
                r = ZSTD_decompressStream(self.zd, &zout, &zin)
            if ZSTD_isError(r):
                raise ValueError(f"corrupt zstd data: {ZSTD_getErrorName(r).decode()}")
            consumed = zin.pos
            produced = zout.pos
            self.at_boundary = r == 0
        else:
            dst_size = out.shape[0]
            src_size = avail
            with nogil:
                r = LZ4F_decompress(self.ld, &out[0], &dst_size, src, &src_size, NULL)
            if LZ4F_isError(r):
                raise ValueError(f"corrupt lz4 data: {LZ4F_getErrorName(r).decode()}")
            consumed = src_size
            produced = dst_size
            self.at_boundary = r == 0
        self.pos += consumed
        self.bytes_out += produced
        return produced
