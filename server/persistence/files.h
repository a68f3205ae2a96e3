#ifndef BASIN_SERVER_PERSISTENCE_FILES_H_
#define BASIN_SERVER_PERSISTENCE_FILES_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace basin {

// The POSIX file operations persistence needs, each returning a status that names the path and
// the errno text. Nothing here knows a basin format.

// Writes `path` so that after a crash it holds either its old content or all of `bytes`: a
// temporary file beside it, fsync, rename, fsync of the directory.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes);
// The file's bytes, or its first `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     std::size_t max_bytes = std::numeric_limits<std::size_t>::max());
absl::Status MakeDirectories(const std::string& path);
// Removes a file or a directory tree; a missing path is fine.
absl::Status RemovePath(const std::string& path);
absl::Status SyncDirectory(const std::string& path);
// Names in a directory (not "." or ".."), sorted.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path);
bool PathExists(const std::string& path);

// A file written only at its end, e.g. a log. Appends go straight to the kernel (a process crash
// loses nothing written); DataSync makes them survive a machine crash.
class AppendOnlyFile {
 public:
  // Creates `path` (it must not exist) holding `header`, durable, with its directory entry.
  static absl::StatusOr<std::unique_ptr<AppendOnlyFile>> Create(const std::string& path, absl::string_view header);
  // Opens an existing file for appending after truncating it to `size` bytes.
  static absl::StatusOr<std::unique_ptr<AppendOnlyFile>> OpenAt(const std::string& path, uint64_t size);
  ~AppendOnlyFile();

  // Writes the pieces in order as one record; a short write is retried to the end.
  absl::Status Append(std::initializer_list<absl::string_view> pieces);
  absl::Status DataSync();
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  AppendOnlyFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_;
  uint64_t size_;
};

// An exclusive advisory lock on a directory for as long as the object lives (flock on a LOCK file
// inside it), so two servers never share a data directory. Released when the process dies.
class DirectoryLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirectoryLock>> Acquire(const std::string& directory);
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace basin

#endif  // BASIN_SERVER_PERSISTENCE_FILES_H_
