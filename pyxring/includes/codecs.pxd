# The compression libraries pyxring links (Debian's zlib1g-dev, libzstd-dev,
# liblz4-dev): only the streaming calls the writer and the reader use.

cdef extern from "<zlib.h>" nogil:
    ctypedef struct z_stream:
        const unsigned char *next_in
        unsigned int avail_in
        unsigned char *next_out
        unsigned int avail_out
        unsigned long total_in
        unsigned long adler         # with a gzip wrapper: the CRC-32 of the input so far
        const char *msg
    int deflateInit2(z_stream *strm, int level, int method, int windowBits, int memLevel,
                     int strategy)
    int deflate(z_stream *strm, int flush)
    int deflateReset(z_stream *strm)
    int deflateEnd(z_stream *strm)
    int inflateInit2(z_stream *strm, int windowBits)
    int inflate(z_stream *strm, int flush)
    int inflateReset(z_stream *strm)
    int inflateEnd(z_stream *strm)
    enum:
        Z_OK
        Z_STREAM_END
        Z_BUF_ERROR
        Z_NO_FLUSH
        Z_FINISH
        Z_DEFLATED
        Z_DEFAULT_STRATEGY

cdef extern from "<zstd.h>" nogil:
    ctypedef struct ZSTD_CCtx:
        pass
    ctypedef struct ZSTD_DCtx:
        pass
    ctypedef struct ZSTD_inBuffer:
        const void *src
        size_t size
        size_t pos
    ctypedef struct ZSTD_outBuffer:
        void *dst
        size_t size
        size_t pos
    ctypedef enum ZSTD_EndDirective:
        ZSTD_e_flush
        ZSTD_e_end
    ctypedef enum ZSTD_cParameter:
        ZSTD_c_compressionLevel
        ZSTD_c_checksumFlag
    ZSTD_CCtx *ZSTD_createCCtx()
    size_t ZSTD_freeCCtx(ZSTD_CCtx *cctx)
    size_t ZSTD_CCtx_setParameter(ZSTD_CCtx *cctx, ZSTD_cParameter param, int value)
    size_t ZSTD_compressStream2(ZSTD_CCtx *cctx, ZSTD_outBuffer *output, ZSTD_inBuffer *input,
                                ZSTD_EndDirective endOp)
    ZSTD_DCtx *ZSTD_createDCtx()
    size_t ZSTD_freeDCtx(ZSTD_DCtx *dctx)
    size_t ZSTD_decompressStream(ZSTD_DCtx *zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input)
    unsigned ZSTD_isError(size_t code)
    const char *ZSTD_getErrorName(size_t code)

cdef extern from "<lz4frame.h>" nogil:
    ctypedef struct LZ4F_cctx:
        pass
    ctypedef struct LZ4F_dctx:
        pass
    ctypedef struct LZ4F_frameInfo_t:
        int blockSizeID
        int blockMode
        int contentChecksumFlag
    ctypedef struct LZ4F_preferences_t:
        LZ4F_frameInfo_t frameInfo
        int compressionLevel
        unsigned autoFlush
    ctypedef struct LZ4F_compressOptions_t:
        unsigned stableSrc
    ctypedef struct LZ4F_decompressOptions_t:
        unsigned stableDst
    enum:
        LZ4F_VERSION
    size_t LZ4F_createCompressionContext(LZ4F_cctx **cctxPtr, unsigned version)
    size_t LZ4F_freeCompressionContext(LZ4F_cctx *cctx)
    size_t LZ4F_compressBegin(LZ4F_cctx *cctx, void *dstBuffer, size_t dstCapacity,
                              const LZ4F_preferences_t *prefsPtr)
    size_t LZ4F_compressUpdate(LZ4F_cctx *cctx, void *dstBuffer, size_t dstCapacity,
                               const void *srcBuffer, size_t srcSize,
                               const LZ4F_compressOptions_t *cOptPtr)
    size_t LZ4F_flush(LZ4F_cctx *cctx, void *dstBuffer, size_t dstCapacity,
                      const LZ4F_compressOptions_t *cOptPtr)
    size_t LZ4F_compressEnd(LZ4F_cctx *cctx, void *dstBuffer, size_t dstCapacity,
                            const LZ4F_compressOptions_t *cOptPtr)
    size_t LZ4F_createDecompressionContext(LZ4F_dctx **dctxPtr, unsigned version)
    size_t LZ4F_freeDecompressionContext(LZ4F_dctx *dctx)
    size_t LZ4F_decompress(LZ4F_dctx *dctx, void *dstBuffer, size_t *dstSizePtr,
                           const void *srcBuffer, size_t *srcSizePtr,
                           const LZ4F_decompressOptions_t *dOptPtr)
    unsigned LZ4F_isError(size_t code)
    const char *LZ4F_getErrorName(size_t code)
