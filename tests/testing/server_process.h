#ifndef BASIN_TESTS_TESTING_SERVER_PROCESS_H_
#define BASIN_TESTS_TESTING_SERVER_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace basin::testing {

// A real basin-server process (the binary the build made) on loopback, for tests that kill,
// signal and restart it. Its stdout is read until it prints the address it listens on.
class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { Kill(); }

  // Starts `binary args...`; returns false (with why()) if it does not print its address within
  // `timeout`.
  bool Start(const std::string& binary, const std::vector<std::string>& args,
             absl::Duration timeout = absl::Seconds(30)) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return Fail("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_fd_ = out[0];
    const absl::Time deadline = absl::Now() + timeout;
    std::string line;
    while (absl::Now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(stdout_fd_, &c, 1) != 1) return Fail(absl::StrCat("exited before listening; output: ", output_));
      output_ += c;
      if (c != '\n') {
        line += c;
        continue;
      }
      constexpr absl::string_view kListening = "basin-server listening on ";
      if (absl::StartsWith(line, kListening)) {
        address_ = std::string(absl::StripPrefix(line, kListening));
        return true;
      }
      line.clear();
    }
    return Fail(absl::StrCat("did not listen within ", absl::FormatDuration(timeout), "; output: ", output_));
  }

  const std::string& address() const { return address_; }
  int port() const { return std::stoi(address_.substr(address_.rfind(':') + 1)); }
  // What it printed on stdout before listening.
  const std::string& output() const { return output_; }
  const std::string& why() const { return why_; }
  pid_t pid() const { return pid_; }

  void Signal(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }
  // Waits for the process to end; returns its wait status, or -1 on timeout.
  int WaitForExit(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        ::close(stdout_fd_);
        return status;
      }
      if (absl::Now() >= deadline) return -1;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return -1;
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    WaitForExit(absl::Seconds(10));
  }

 private:
  bool Fail(std::string why) {
    why_ = std::move(why);
    Kill();
    return false;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
  std::string output_;
  std::string why_;
};

}  // namespace basin::testing

#endif  // BASIN_TESTS_TESTING_SERVER_PROCESS_H_
