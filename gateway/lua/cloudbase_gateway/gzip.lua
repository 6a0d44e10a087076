-- gzip compression through zlib (LuaJIT FFI). nginx links zlib already, so
-- libz is always on the machine. Used by the fault_gzip test function.
local ffi = require "ffi"

ffi.cdef [[
typedef struct {
  const unsigned char *next_in;
  unsigned int avail_in;
  unsigned long total_in;
  unsigned char *next_out;
  unsigned int avail_out;
  unsigned long total_out;
  const char *msg;
  void *state;
  void *zalloc;
  void *zfree;
  void *opaque;
  int data_type;
  unsigned long adler;
  unsigned long reserved;
} cloudbase_gw_z_stream;
const char *zlibVersion(void);
int deflateInit2_(cloudbase_gw_z_stream *strm, int level, int method, int windowBits,
                  int memLevel, int strategy, const char *version, int stream_size);
int deflate(cloudbase_gw_z_stream *strm, int flush);
int deflateEnd(cloudbase_gw_z_stream *strm);
unsigned long deflateBound(cloudbase_gw_z_stream *strm, unsigned long sourceLen);
]]

local Z_FINISH, Z_STREAM_END, Z_DEFLATED = 4, 1, 8
local GZIP_WINDOW_BITS = 31 -- 15 + 16: write a gzip header and trailer

local zlib
local function library()
  if not zlib then
    local ok, lib = pcall(ffi.load, "z")
    if not ok then
      lib = ffi.load("libz.so.1")
    end
    zlib = lib
  end
  return zlib
end

local M = {}

-- compress(text) -> gzip bytes | nil, err
function M.compress(text)
  local z = library()
  local strm = ffi.new("cloudbase_gw_z_stream")
  local rc = z.deflateInit2_(strm, 6, Z_DEFLATED, GZIP_WINDOW_BITS, 8, 0,
    z.zlibVersion(), ffi.sizeof(strm))
  if rc ~= 0 then
    return nil, "deflateInit2 failed: " .. rc
  end
  local bound = tonumber(z.deflateBound(strm, #text)) + 64
  local out = ffi.new("unsigned char[?]", bound)
  strm.next_in = text
  strm.avail_in = #text
  strm.next_out = out
  strm.avail_out = bound
  rc = z.deflate(strm, Z_FINISH)
  local produced = tonumber(strm.total_out)
  z.deflateEnd(strm)
  if rc ~= Z_STREAM_END then
    return nil, "deflate failed: " .. rc
  end
  return ffi.string(out, produced)
end

return M
