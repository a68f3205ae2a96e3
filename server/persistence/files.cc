#include "server/persistence/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace basin {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path, int error = errno) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) return absl::ResourceExhaustedError(message);
  if (error == ENOENT) return absl::NotFoundError(message);
  return absl::UnavailableError(message);
}

absl::Status WriteAll(int fd, const std::string& path, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

std::string Parent(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

absl::Status SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", path);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno("cannot fsync directory", path, error);
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view bytes) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", temporary);
  absl::Status s = WriteAll(fd, temporary, bytes);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", temporary);
  ::close(fd);
  if (s.ok() && ::rename(temporary.c_str(), path.c_str()) != 0) s = Errno("cannot rename into", path);
  if (!s.ok()) {
    ::unlink(temporary.c_str());
    return s;
  }
  return SyncDirectory(Parent(path));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    out.reserve(std::min(static_cast<std::size_t>(st.st_size), max_bytes));
  }
  char buffer[1 << 16];
  while (out.size() < max_bytes) {
    const ssize_t n = ::read(fd, buffer, std::min(sizeof(buffer), max_bytes - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      const absl::Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status MakeDirectories(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot create directory ", path, ": ", error.message()));
  return absl::OkStatus();
}

absl::Status RemovePath(const std::string& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot remove ", path, ": ", error.message()));
  return SyncDirectory(Parent(path));
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) {
  std::error_code error;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) return absl::UnavailableError(absl::StrCat("cannot list ", path, ": ", error.message()));
  std::sort(names.begin(), names.end());
  return names;
}

bool PathExists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

absl::StatusOr<std::unique_ptr<AppendOnlyFile>> AppendOnlyFile::Create(const std::string& path,
                                                                        absl::string_view header) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", path);
  std::unique_ptr<AppendOnlyFile> file(new AppendOnlyFile(path, fd, 0));
  absl::Status s = file->Append({header});
  if (s.ok()) s = file->DataSync();
  if (s.ok()) s = SyncDirectory(Parent(path));
  if (!s.ok()) {
    file.reset();
    ::unlink(path.c_str());
    return s;
  }
  return file;
}

absl::StatusOr<std::unique_ptr<AppendOnlyFile>> AppendOnlyFile::OpenAt(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 || ::fdatasync(fd) != 0) {
    const absl::Status s = Errno("cannot truncate", path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<AppendOnlyFile>(new AppendOnlyFile(path, fd, size));
}

AppendOnlyFile::~AppendOnlyFile() { ::close(fd_); }

absl::Status AppendOnlyFile::Append(std::initializer_list<absl::string_view> pieces) {
  std::vector<iovec> iov;
  std::size_t total = 0;
  for (absl::string_view piece : pieces) {
    if (piece.empty()) continue;
    iov.push_back(iovec{const_cast<char*>(piece.data()), piece.size()});
    total += piece.size();
  }
  std::size_t first = 0;
  std::size_t written = 0;
  while (written < total) {
    const ssize_t n = ::writev(fd_, iov.data() + first, static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX)));
    if (n < 0) {
      if (errno == EINTR) continue;
      const absl::Status s = Errno("cannot append to", path_);
      // A partial record at the end would be read as a torn tail; cut it off now so later
      // records are not written behind it.
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) return Errno("cannot truncate", path_);
      return s;
    }
    written += static_cast<std::size_t>(n);
    std::size_t advance = static_cast<std::size_t>(n);
    while (advance > 0 && first < iov.size()) {
      if (advance >= iov[first].iov_len) {
        advance -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + advance;
        iov[first].iov_len -= advance;
        advance = 0;
      }
    }
  }
  size_ += total;
  return absl::OkStatus();
}

absl::Status AppendOnlyFile::DataSync() {
  if (::fdatasync(fd_) != 0) return Errno("cannot fdatasync", path_);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DirectoryLock>> DirectoryLock::Acquire(const std::string& directory) {
  const std::string path = directory + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", directory, " is in use by another basin-server (", path, " is locked)"));
    }
    return Errno("cannot lock", path, error);
  }
  return std::unique_ptr<DirectoryLock>(new DirectoryLock(fd));
}

DirectoryLock::~DirectoryLock() { ::close(fd_); }

}  // namespace basin
