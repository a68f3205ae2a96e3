// Writes the generated seeds of the fuzz targets' corpora (tests/fuzz/corpus/<target>/seed-*):
// real requests, chunk streams, optimizer states, checkpoints, snapshots and logs made with the
// server's own code, plus a few edge cases each. Deterministic, so rerunning it changes nothing:
//
//   fuzz_corpus_generator tests/fuzz/corpus
//
// Other files in the corpus are kept: regression-* inputs of fixed findings, and the inputs
// `scripts/fuzz --update-corpus` merged in (named by their SHA-1, as libFuzzer names them).

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "basin/v1/optimizer_service.pb.h"
#include "core/byte_io.h"
#include "core/half.h"
#include "core/state_codec.h"
#include "core/tensor_chunks.h"
#include "google/protobuf/text_format.h"
#include "proto/chunk_view.h"
#include "server/persistence/files.h"
#include "server/persistence/session_image.h"
#include "server/persistence/session_store.h"
#include "server/persistence/wal_format.h"
#include "server/proto_convert.h"
#include "server/session_checkpoint.h"
#include "server/session_manager.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/train_chunks_input.h"

namespace basin {
namespace {

namespace fs = std::filesystem;

class CorpusWriter {
 public:
  CorpusWriter(fs::path root, std::string target) : dir_(std::move(root) / std::move(target)) {
    fs::create_directories(dir_);
  }
  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream out(dir_ / absl::StrCat("seed-", name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir_ / name).c_str());
      std::exit(1);
    }
    ++count_;
  }
  ~CorpusWriter() { std::printf("%s: %d seeds\n", dir_.c_str(), count_); }

 private:
  fs::path dir_;
  int count_ = 0;
};

// `body` with its CRC-32C appended, as the state codec and snapshots end.
std::string WithCrc(std::string body) {
  const uint32_t crc = Crc32c(body);
  body.append(reinterpret_cast<const char*>(&crc), 4);
  return body;
}

// The damage every checksummed format with an 8-byte magic and a u32 version must refuse, made
// from a good file: a wrong checksum, a cut, another magic, another version, bytes after the end,
// nothing. Returns the file without its checksum, for format-specific damage.
std::string WriteFramingDamage(CorpusWriter& out, const std::string& good, const std::string& wrong_magic) {
  const std::string body = good.substr(0, good.size() - 4);
  std::string bad_crc = good;
  bad_crc.back() = static_cast<char>(bad_crc.back() ^ 1);
  out.Write("refused_checksum", bad_crc);
  out.Write("refused_truncated", WithCrc(body.substr(0, body.size() / 2)));
  out.Write("refused_magic", WithCrc(wrong_magic + body.substr(8)));
  std::string version = body;
  version[8] = 2;
  out.Write("refused_version", WithCrc(version));
  out.Write("refused_trailing_bytes", WithCrc(body + "extra"));
  out.Write("refused_empty", "");
  return body;
}

v1::CreateSessionRequest Request(const std::string& text) {
  v1::CreateSessionRequest request;
  if (!google::protobuf::TextFormat::ParseFromString(text, &request)) {
    std::fprintf(stderr, "bad text proto: %s\n", text.c_str());
    std::exit(1);
  }
  return request;
}

// Smooth values that differ per element, so chunks of different tensors are told apart.
std::vector<double> Values(int64_t n, double phase) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.7 * static_cast<double>(i) + phase);
  return v;
}

// The request's initial_values: its layout's values, in `dtype`, in chunks of at most
// `max_chunk_bytes`.
void AddInitialValues(v1::CreateSessionRequest& request, WireDType dtype, int64_t max_chunk_bytes) {
  auto spec = CreateSessionSpecFromProto(request);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().ToString().c_str());
    std::exit(1);
  }
  const std::vector<double> values = Values(spec->layout.num_elements(), 0.3);
  absl::Status s = ForEachChunk<double>(spec->layout, values, dtype, max_chunk_bytes, [&](const ChunkView& view) {
    FillChunk(view, request.add_initial_values());
    return absl::OkStatus();
  });
  if (!s.ok()) std::exit(1);
}

const std::vector<std::pair<std::string, std::string>>& Optimizers() {
  static const auto* optimizers = new std::vector<std::pair<std::string, std::string>>{
      {"sgd", "sgd {}"},
      {"sgd_nesterov", "sgd { lr: 0.1 momentum: 0.9 nesterov: true weight_decay: 1e-4 }"},
      {"sgd_cosine", "sgd { lr: 0.1 lr_schedule { kind: KIND_COSINE total: 10 final_value: 0.001 } }"},
      {"sgld", "sgld { temperature: 0.5 num_data: 100 lr_convention: LR_CONVENTION_WELLING_TEH }"},
      {"sam", "sam { rho: 0.05 momentum: 0.5 }"},
      {"asam", "sam { rho: 0.5 adaptive: true lr_schedule { kind: KIND_STEP step_size: 2 factor: 0.5 } }"},
      {"entropy_sgd_lua", "entropy_sgd { L: 3 }"},
      {"entropy_sgd_paper", "entropy_sgd { variant: VARIANT_PAPER L: 2 gamma: 0.1 }"},
      {"entropy_sgd_pytorch", "entropy_sgd { variant: VARIANT_PYTORCH L: 2 noise_scaling: NOISE_SCALING_PAPER }"},
      {"emcmc_code", "emcmc { num_data: 100 momentum: 0.5 }"},
      {"emcmc_paper", "emcmc { form: FORM_PAPER lr_schedule { kind: KIND_POLYNOMIAL power: 0.5 } }"},
  };
  return *optimizers;
}

void CreateSessionRequests(const fs::path& root) {
  CorpusWriter out(root, "create_session_request_fuzz");
  const std::string layouts[] = {
      "tensors { name: 'w' shape: [3, 2] } tensors { name: 'b' shape: 3 }",
      "tensors { name: 'x' shape: 5 }",
      "tensors { name: 'fc1.weight' shape: [4, 3] } tensors { name: 'scalar' } tensors { name: 'empty' shape: [0, 7] }",
  };
  int k = 0;
  for (const auto& [name, config] : Optimizers()) {
    const bool f64 = k % 2 == 1;
    const std::string samples = name.rfind("emcmc", 0) == 0 ? "samples { which: WHICH_BOTH burn_in: 1 thin: 2 }"
                                                            : "samples { which: WHICH_MODEL max_samples: 3 }";
    v1::CreateSessionRequest request = Request(absl::StrCat(
        "spec { ", layouts[k % 3], f64 ? " state_dtype: DTYPE_F64" : "", " optimizer { ", config, " } ",
        k % 3 == 0 ? samples : "", " seed: ", 1000 + k, " }", k % 4 == 1 ? " request_id: 'req-1'" : ""));
    out.Write(absl::StrCat(name, f64 ? "_f64" : "_f32"), request.SerializeAsString());
    ++k;
  }
  const std::string plain = "tensors { name: 'w' shape: [3, 2] } tensors { name: 'b' shape: 3 } optimizer { sgd {} }";
  struct Initial {
    std::string name;
    WireDType dtype;
    int64_t max_chunk_bytes;
  };
  for (const Initial& i : {Initial{"f32", WireDType::kF32, 0}, Initial{"f64_small_chunks", WireDType::kF64, 16},
                           Initial{"bf16", WireDType::kBF16, 4}, Initial{"f16", WireDType::kF16, 0}}) {
    v1::CreateSessionRequest request = Request(absl::StrCat("spec { ", plain, " }"));
    AddInitialValues(request, i.dtype, i.max_chunk_bytes);
    out.Write(absl::StrCat("initial_values_", i.name), request.SerializeAsString());
  }
  v1::CreateSessionRequest emcmc_initial =
      Request("spec { tensors { name: 'x' shape: 4 } state_dtype: DTYPE_F64 optimizer { emcmc {} } }");
  AddInitialValues(emcmc_initial, WireDType::kF32, 8);
  out.Write("initial_values_emcmc", emcmc_initial.SerializeAsString());

  // Worker policies.
  out.Write("workers_sync_quorum",
            Request(absl::StrCat("spec { ", plain, " workers { num_workers: 3 quorum: 2 } }")).SerializeAsString());
  out.Write("workers_async",
            Request(absl::StrCat("spec { ", plain, " workers { num_workers: 4 mode: MODE_ASYNC max_staleness: 2 } }"))
                .SerializeAsString());
  out.Write("at_state_limit_f32",  // 2^18 parameters of one f32 variable: exactly the fuzz limit's 1 MiB
            Request("spec { tensors { name: 'x' shape: [512, 512] } optimizer { sgld {} } }").SerializeAsString());
  out.Write("metrics_run", Request(absl::StrCat("spec { ", plain, " metrics_run: 'run-1.a_b' }")).SerializeAsString());

  // Refused: the messages of docs/errors.md, and the limits.
  const std::pair<const char*, std::string> refused[] = {
      {"empty", ""},
      {"no_tensors", "spec { optimizer { sgd {} } }"},
      {"no_optimizer", "spec { tensors { name: 'x' shape: 2 } }"},
      {"bf16_state", "spec { tensors { name: 'x' shape: 2 } state_dtype: DTYPE_BF16 optimizer { sgd {} } }"},
      {"negative_dimension", "spec { tensors { name: 'x' shape: [2, -3] } optimizer { sgd {} } }"},
      {"duplicate_name", "spec { tensors { name: 'x' shape: 2 } tensors { name: 'x' shape: 1 } optimizer { sgd {} } }"},
      {"unprintable_name", "spec { tensors { name: 'a b' shape: 2 } optimizer { sgd {} } }"},
      {"zero_elements", "spec { tensors { name: 'x' shape: [4, 0] } optimizer { sgd {} } }"},
      {"overflowing_shape",
       "spec { tensors { name: 'x' shape: [4294967296, 4294967296, 4] } optimizer { sgd {} } }"},
      {"over_parameter_limit", "spec { tensors { name: 'x' shape: [1024, 1024] } optimizer { sgd {} } }"},
      {"over_state_limit_f64",
       "spec { tensors { name: 'x' shape: [512, 256] } state_dtype: DTYPE_F64 optimizer { emcmc {} } }"},
      {"bad_lr", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd { lr: -1 } } }"},
      {"nesterov_without_momentum", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd { nesterov: true } } }"},
      {"quorum_over_workers", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd {} } workers { num_workers: 2 quorum: 3 } }"},
      {"async_multi_tick", "spec { tensors { name: 'x' shape: 2 } optimizer { sam {} } workers { mode: MODE_ASYNC } }"},
      {"too_many_workers", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd {} } workers { num_workers: 1000 } }"},
      {"anchor_samples_sgd", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd {} } samples { which: WHICH_ANCHOR } }"},
      {"bad_metrics_run", "spec { tensors { name: 'x' shape: 2 } optimizer { sgd {} } metrics_run: 'a/b' }"},
  };
  for (const auto& [name, text] : refused) out.Write(absl::StrCat("refused_", name), Request(text).SerializeAsString());

  v1::CreateSessionRequest gap = Request(absl::StrCat("spec { ", plain, " }"));
  AddInitialValues(gap, WireDType::kF32, 8);
  gap.mutable_initial_values()->erase(gap.mutable_initial_values()->begin() + 1);
  out.Write("refused_initial_values_gap", gap.SerializeAsString());
  v1::CreateSessionRequest nan = Request(absl::StrCat("spec { ", plain, " }"));
  AddInitialValues(nan, WireDType::kF32, 0);
  std::string data = nan.initial_values(0).data();
  const float not_a_number = std::nanf("");
  std::memcpy(data.data(), &not_a_number, 4);
  nan.mutable_initial_values(0)->set_data(data);
  out.Write("refused_initial_values_nan", nan.SerializeAsString());
  v1::CreateSessionRequest long_id = Request(absl::StrCat("spec { ", plain, " } request_id: '", std::string(129, 'r'), "'"));
  out.Write("refused_long_request_id", long_id.SerializeAsString());
}

void TrainChunks(const fs::path& root) {
  namespace format = fuzz::train_chunks;
  CorpusWriter out(root, "train_chunks_fuzz");
  // Layout w [3, 2], b [3], c.d [0], e [] (a scalar): 10 elements.
  const std::vector<format::Tensor> layout = {{{3, 2}}, {{3}}, {{0}}, {{}}};
  const int64_t sizes[] = {6, 3, 0, 1};
  auto encode = [](WireDType dtype, int64_t n, double phase) {
    const std::vector<double> v = Values(n, phase);
    std::string bytes(static_cast<std::size_t>(n * WireDTypeSize(dtype)), '\0');
    EncodeFromState(dtype, v.data(), n, bytes.data());
    return bytes;
  };
  // Every tensor in one chunk per tensor, or in chunks of `per_chunk` elements.
  auto whole_set = [&](fuzz::FuzzInputWriter& w, WireDType dtype, int64_t per_chunk, double phase) {
    for (uint8_t t = 0; t < 4; ++t) {
      const std::string bytes = encode(dtype, sizes[t], phase + t);
      const int64_t step = per_chunk > 0 ? per_chunk : std::max<int64_t>(sizes[t], 1);
      for (int64_t start = 0; start < std::max<int64_t>(sizes[t], 1); start += step) {
        const int64_t count = std::min(step, sizes[t] - start);
        format::WriteChunk(w, t, static_cast<uint8_t>(dtype), start,
                           absl::string_view(bytes).substr(static_cast<std::size_t>(start * WireDTypeSize(dtype)),
                                                           static_cast<std::size_t>(std::max<int64_t>(count, 0) *
                                                                                    WireDTypeSize(dtype))));
      }
    }
  };
  const std::pair<const char*, WireDType> dtypes[] = {
      {"f32", WireDType::kF32}, {"f64", WireDType::kF64}, {"bf16", WireDType::kBF16}, {"f16", WireDType::kF16}};
  for (bool f64 : {false, true}) {
    for (const auto& [name, dtype] : dtypes) {
      fuzz::FuzzInputWriter w;
      format::WriteSetup(w, f64, 0, layout);
      whole_set(w, dtype, 0, 0.1);
      out.Write(absl::StrCat(f64 ? "f64" : "f32", "_state_", name), w.bytes());
    }
  }
  {  // Two ticks, the second in element-sized chunks under an 8-byte limit.
    fuzz::FuzzInputWriter w;
    format::WriteSetup(w, true, 1, layout);
    whole_set(w, WireDType::kF64, 1, 0.2);
    format::WriteReset(w);
    whole_set(w, WireDType::kF32, 2, 0.4);
    out.Write("two_ticks_small_limit", w.bytes());
  }
  {  // A single-tensor layout, chunks of three.
    fuzz::FuzzInputWriter w;
    format::WriteSetup(w, false, 2, {{{4, 4}}});
    const std::string bytes = encode(WireDType::kF32, 16, 0);
    for (int64_t start = 0; start < 16; start += 3) {
      format::WriteChunk(w, 0, static_cast<uint8_t>(WireDType::kF32), start,
                         absl::string_view(bytes).substr(start * 4, std::min<int64_t>(3, 16 - start) * 4));
    }
    out.Write("one_tensor_chunks_of_three", w.bytes());
  }
  // Each mistake after a valid first chunk of w.
  const std::string w_first = encode(WireDType::kF32, 2, 0);
  struct Mistake {
    const char* name;
    uint8_t tensor;
    uint8_t dtype;
    int64_t offset;
    std::string data;
  };
  const Mistake mistakes[] = {
      {"gap", 0, 1, 3, encode(WireDType::kF32, 1, 0)},
      {"overlap", 0, 1, 1, encode(WireDType::kF32, 2, 0)},
      {"skips_tensor", 1, 1, 0, encode(WireDType::kF32, 3, 0)},
      {"unknown_tensor", 4, 1, 2, encode(WireDType::kF32, 1, 0)},
      {"unknown_long_name", 4 | 0x80, 1, 2, encode(WireDType::kF32, 1, 0)},
      {"dtype_unspecified", 0, 0, 2, encode(WireDType::kF32, 1, 0)},
      {"dtype_unknown", 0, 9, 2, encode(WireDType::kF32, 1, 0)},
      {"partial_element", 0, 1, 2, encode(WireDType::kF32, 1, 0) + "x"},
      {"past_tensor_end", 0, 1, 2, encode(WireDType::kF32, 5, 0)},
      {"negative_offset", 0, 1, -1, encode(WireDType::kF32, 1, 0)},
      {"huge_offset", 0, 1, INT64_MAX, encode(WireDType::kF32, 1, 0)},
      {"over_limit", 0, 2, 2, encode(WireDType::kF64, 4, 0)},
  };
  for (const Mistake& m : mistakes) {
    fuzz::FuzzInputWriter w;
    format::WriteSetup(w, false, 2, layout);
    format::WriteChunk(w, 0, static_cast<uint8_t>(WireDType::kF32), 0, w_first);
    format::WriteChunk(w, m.tensor, m.dtype, m.offset, m.data);
    out.Write(absl::StrCat("refused_", m.name), w.bytes());
  }
  {  // Data after every element arrived, and empty chunks where they are allowed.
    fuzz::FuzzInputWriter w;
    format::WriteSetup(w, false, 0, layout);
    whole_set(w, WireDType::kF32, 0, 0);
    format::WriteChunk(w, 2, static_cast<uint8_t>(WireDType::kF32), 0, "");
    format::WriteChunk(w, 3, static_cast<uint8_t>(WireDType::kF32), 1, encode(WireDType::kF32, 1, 0));
    out.Write("refused_data_after_complete", w.bytes());
  }
}

// An optimizer of `config` on a small layout after `ticks` ticks, its state collected as samples.
absl::StatusOr<AnyOptimizer> Trained(const std::string& config, const std::string& samples, bool f64, int ticks) {
  auto spec = CreateSessionSpecFromProto(Request(absl::StrCat(
      "spec { tensors { name: 'w' shape: [2, 3] } tensors { name: 'b' shape: 2 } tensors { name: 's' } ",
      f64 ? "state_dtype: DTYPE_F64 " : "", "optimizer { ", config, " } ", samples, " seed: 7 }")));
  if (!spec.ok()) return spec.status();
  auto optimizer = CreateAnyOptimizer(spec->optimizer, spec->layout, spec->dtype);
  if (!optimizer.ok()) return optimizer.status();
  for (int t = 0; t < ticks; ++t) {
    absl::Status s = std::visit(
        [&](auto& o) {
          using Real = typename std::decay_t<decltype(*o)>::Buffer::value_type;
          const std::vector<double> g = Values(o->dimension(), t);
          return o->Tell(std::vector<Real>(g.begin(), g.end()), 1.0 / (1 + t));
        },
        *optimizer);
    if (!s.ok()) return s;
  }
  return optimizer;
}

void States(const fs::path& root) {
  CorpusWriter out(root, "state_codec_fuzz");
  int k = 0;
  std::string first;
  for (const auto& [name, config] : Optimizers()) {
    const bool f64 = k % 2 == 0;
    const std::string samples = name.rfind("emcmc", 0) == 0 ? "samples { which: WHICH_BOTH max_samples: 2 }"
                                                            : "samples { which: WHICH_MODEL thin: 2 max_samples: 2 }";
    auto optimizer = Trained(config, samples, f64, 7);
    if (!optimizer.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), optimizer.status().ToString().c_str());
      std::exit(1);
    }
    const std::string bytes = EncodeState(*optimizer);
    if (first.empty()) first = bytes;
    out.Write(absl::StrCat(name, f64 ? "_f64" : "_f32"), bytes);
    ++k;
  }
  auto fresh = Trained("sgd {}", "", false, 0);
  out.Write("sgd_fresh", EncodeState(*fresh));
  // Damaged: each refused with a different message.
  std::string dtype = WriteFramingDamage(out, first, "BASNSTAX");
  dtype[12] = 7;
  out.Write("refused_dtype", WithCrc(dtype));
}

void Checkpoints(const fs::path& root) {
  CorpusWriter out(root, "import_checkpoint_fuzz");
  ServerLimits limits;
  SessionManager sessions(limits);
  struct Made {
    const char* name;
    std::string spec;
    int ticks;
  };
  const Made made[] = {
      {"sgd_sync_quorum", "optimizer { sgd { momentum: 0.9 } } workers { num_workers: 3 quorum: 2 }", 4},
      {"sgld_async", "optimizer { sgld {} } workers { num_workers: 2 mode: MODE_ASYNC max_staleness: 3 }", 5},
      {"entropy_sgd_f64", "state_dtype: DTYPE_F64 optimizer { entropy_sgd { L: 2 } }", 7},
      {"emcmc_samples", "optimizer { emcmc {} } samples { which: WHICH_BOTH max_samples: 2 }", 6},
      {"sam_fresh", "optimizer { sam {} }", 0},
  };
  std::string first;
  for (const Made& m : made) {
    auto spec = CreateSessionSpecFromProto(
        Request(absl::StrCat("spec { tensors { name: 'w' shape: [2, 2] } tensors { name: 'b' shape: 2 } ", m.spec,
                             " seed: 11 }")));
    if (!spec.ok()) std::exit(1);
    auto session = sessions.Create(*std::move(spec));
    if (!session.ok()) {
      std::fprintf(stderr, "%s: %s\n", m.name, session.status().ToString().c_str());
      std::exit(1);
    }
    for (int t = 0; t < m.ticks; ++t) {
      const absl::Status told = (*session)->WithMutableOptimizer([&](auto& o) {
        using Real = typename std::decay_t<decltype(o)>::Buffer::value_type;
        const std::vector<double> g = Values(o.dimension(), t);
        return o.Tell(std::vector<Real>(g.begin(), g.end()), 0.5);
      });
      if (!told.ok()) {
        std::fprintf(stderr, "%s: %s\n", m.name, told.ToString().c_str());
        std::exit(1);
      }
    }
    const std::string bytes = EncodeCheckpoint(**session).bytes;
    if (first.empty()) first = bytes;
    out.Write(m.name, bytes);
  }
  v1::SessionCheckpoint checkpoint;
  checkpoint.ParseFromString(first);
  v1::SessionCheckpoint version = checkpoint;
  version.set_format_version(2);
  out.Write("refused_format_version", version.SerializeAsString());
  v1::SessionCheckpoint workers = checkpoint;
  workers.mutable_workers()->set_mode(static_cast<v1::WorkerPolicy::Mode>(9));
  out.Write("refused_worker_mode", workers.SerializeAsString());
  v1::SessionCheckpoint too_many = checkpoint;
  too_many.mutable_workers()->set_num_workers(100);
  out.Write("refused_too_many_workers", too_many.SerializeAsString());
  v1::SessionCheckpoint state = checkpoint;
  state.set_state("BASNSTAT");
  out.Write("refused_state", state.SerializeAsString());
  out.Write("refused_not_a_checkpoint", "not a checkpoint");
}


// Snapshots and logs are what real sessions write to a data directory: sessions made as
// CreateSession makes them (their fingerprint, durability and non-finite policy from a request),
// under fixed ids so every run writes the same bytes, in a scratch directory removed afterwards.
class ScratchStore {
 public:
  ScratchStore() {
    path_ = fs::temp_directory_path() / absl::StrCat("basin-corpus-", ::getpid());
    fs::remove_all(path_);
    auto store = SessionStore::Open(path_.string());
    if (!store.ok()) Die("scratch data directory", store.status());
    store_ = *std::move(store);
  }
  ~ScratchStore() {
    store_.reset();
    fs::remove_all(path_);
  }
  SessionStore& store() { return *store_; }
  std::string File(const std::string& id, const std::string& name) const {
    auto bytes = ReadFile((path_ / "sessions" / id / name).string());
    if (!bytes.ok()) Die(id, bytes.status());
    return *bytes;
  }
  // The session's logs, oldest first, concatenated into one list.
  std::vector<std::string> Logs(const std::string& id) const {
    auto names = ListDirectory((path_ / "sessions" / id).string());
    if (!names.ok()) Die(id, names.status());
    std::vector<std::string> logs;
    for (const std::string& name : *names) {
      if (name.rfind("wal-", 0) == 0) logs.push_back(File(id, name));
    }
    return logs;
  }
  [[noreturn]] static void Die(const std::string& what, const absl::Status& s) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), s.ToString().c_str());
    std::exit(1);
  }

 private:
  fs::path path_;
  std::unique_ptr<SessionStore> store_;
};

std::shared_ptr<Session> Persisted(SessionStore& store, const std::string& id, const v1::CreateSessionRequest& request,
                                   const std::string& tenant) {
  auto spec = CreateSessionSpecFromProto(request);
  if (!spec.ok()) ScratchStore::Die(id, spec.status());
  auto optimizer = CreateAnyOptimizer(spec->optimizer, spec->layout, spec->dtype);
  if (!optimizer.ok()) ScratchStore::Die(id, optimizer.status());
  if (spec->initialize) {
    absl::Status s = spec->initialize(*optimizer);
    if (!s.ok()) ScratchStore::Die(id, s);
  }
  auto session = std::make_shared<Session>(
      id, *std::move(optimizer), spec->workers, spec->metrics_run, nullptr,
      SessionSettings{tenant, spec->request_id, spec->fingerprint, spec->durability, spec->nonfinite_policy});
  absl::Status s = session->StartPersisting(&store);
  if (!s.ok()) ScratchStore::Die(id, s);
  return session;
}

// Worker `worker`'s gradient for `tick` (NaN in one element when `nan`); exits unless the outcome
// is `want`.
void Send(Session& session, int worker, int64_t tick, TickOutcome want, double batch_size = 1, bool nan = false) {
  const std::vector<double> g = Values(session.layout().num_elements(), 0.3 * static_cast<double>(tick) + worker);
  absl::StatusOr<TickOutcome> outcome;
  if (session.dtype() == DType::kF32) {
    std::vector<float> values(g.begin(), g.end());
    if (nan) values[0] = std::nanf("");
    outcome = session.SubmitGradient<float>(worker, tick, values, 0.5 + 0.1 * tick, batch_size);
  } else {
    std::vector<double> values = g;
    if (nan) values[0] = std::nan("");
    outcome = session.SubmitGradient<double>(worker, tick, values, 0.5 + 0.1 * tick, batch_size);
  }
  if (!outcome.ok()) ScratchStore::Die(session.id(), outcome.status());
  if (*outcome != want) {
    std::fprintf(stderr, "%s: worker %d tick %lld: outcome %d, expected %d\n", session.id().c_str(), worker,
                 static_cast<long long>(tick), static_cast<int>(*outcome), static_cast<int>(want));
    std::exit(1);
  }
  absl::Status durable = session.MakeDurable();
  if (!durable.ok()) ScratchStore::Die(session.id(), durable);
}

void SetParameters(Session& session, bool anchor, double phase) {
  const std::vector<double> v = Values(session.layout().num_elements(), phase);
  absl::Status s = session.dtype() == DType::kF32
                       ? session.SetParameters<float>(anchor, std::vector<float>(v.begin(), v.end()))
                       : session.SetParameters<double>(anchor, v);
  if (s.ok()) s = session.MakeDurable();
  if (!s.ok()) ScratchStore::Die(session.id(), s);
}

std::string SnapshotOf(ScratchStore& scratch, Session& session) {
  absl::Status s = session.Snapshot();
  if (!s.ok()) ScratchStore::Die(session.id(), s);
  const std::string bytes = scratch.File(session.id(), "snapshot");
  // A seed the reader refuses would be a finding of the generator's own: every real snapshot loads.
  auto decoded = DecodeSnapshot(bytes);
  if (!decoded.ok()) ScratchStore::Die(absl::StrCat(session.id(), "'s snapshot"), decoded.status());
  return bytes;
}

constexpr absl::string_view kTwoTensors = "tensors { name: 'w' shape: [3, 2] } tensors { name: 'b' shape: 3 }";

void Snapshots(const fs::path& root) {
  CorpusWriter out(root, "snapshot_fuzz");
  ScratchStore scratch;
  SessionStore& store = scratch.store();
  std::string first;
  {
    auto s = Persisted(store, "s-000000000001-0001",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " optimizer { sgd { lr: 0.1 momentum: 0.9 nesterov: true } }"
                                            " metrics_run: 'run.1' seed: 3 } request_id: 'req-1'")),
                       "alice");
    for (int64_t t = 0; t < 5; ++t) Send(*s, 0, t, TickOutcome::kApplied);
    first = SnapshotOf(scratch, *s);
    out.Write("sgd_f32_periodic", first);
  }
  {  // A sync quorum of 3 of 4: three closed ticks, a late drop, a duplicate, two gradients waiting.
    auto s = Persisted(store, "s-000000000001-0002",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " state_dtype: DTYPE_F64 optimizer { sam { rho: 0.1 } }"
                                            " workers { num_workers: 4 quorum: 3 }"
                                            " durability { mode: MODE_PERIODIC snapshot_interval_seconds: 2.5 } }")),
                       "");
    for (int64_t t = 0; t < 3; ++t) {
      for (int w = 0; w < 3; ++w) Send(*s, (w + static_cast<int>(t)) % 4, t, TickOutcome::kApplied, 1 + w);
      if (t == 1) Send(*s, 0, 1, TickOutcome::kDropped);  // tick 1 closed with workers 1, 2 and 3
    }
    Send(*s, 2, 2, TickOutcome::kDuplicate);  // worker 2 was in tick 2's quorum
    Send(*s, 1, 3, TickOutcome::kApplied, 16);
    Send(*s, 3, 3, TickOutcome::kApplied, 48);
    out.Write("sam_f64_quorum_waiting", SnapshotOf(scratch, *s));
  }
  {  // Async with stale gradients and a duplicate.
    auto s = Persisted(store, "s-000000000001-0003",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " optimizer { sgld { temperature: 0.1 } }"
                                            " workers { num_workers: 3 mode: MODE_ASYNC max_staleness: 2 } }")),
                       "bob");
    Send(*s, 0, 0, TickOutcome::kApplied);
    Send(*s, 1, 0, TickOutcome::kApplied);
    Send(*s, 2, 1, TickOutcome::kApplied);
    Send(*s, 0, 3, TickOutcome::kApplied);
    Send(*s, 1, 0, TickOutcome::kDuplicate);
    out.Write("sgld_async_stale", SnapshotOf(scratch, *s));
  }
  {  // Mid-step, every_tick (its snapshot also starts a new log).
    auto s = Persisted(store, "s-000000000001-0004",
                       Request(absl::StrCat("spec { ", kTwoTensors, " optimizer { entropy_sgd { L: 3 } }",
                                            " durability { mode: MODE_EVERY_TICK } }")),
                       "");
    for (int64_t t = 0; t < 6; ++t) Send(*s, 0, t, TickOutcome::kApplied);
    out.Write("entropy_sgd_mid_step_every_tick", SnapshotOf(scratch, *s));
  }
  {  // Samples, and a skipped NaN.
    auto s = Persisted(store, "s-000000000001-0005",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " state_dtype: DTYPE_F64"
                                            " optimizer { emcmc { num_data: 100 momentum: 0.5 } }"
                                            " samples { which: WHICH_BOTH thin: 2 max_samples: 3 }"
                                            " nonfinite_policy: NONFINITE_POLICY_SKIP }")),
                       "");
    for (int64_t t = 0; t < 7; ++t) Send(*s, 0, t, TickOutcome::kApplied);
    Send(*s, 0, 7, TickOutcome::kSkipped, 1, /*nan=*/true);
    out.Write("emcmc_f64_samples_skip", SnapshotOf(scratch, *s));
  }
  {  // A sync pair, one gradient waiting.
    auto s = Persisted(store, "s-000000000001-0006",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " optimizer { entropy_sgd { variant: VARIANT_PAPER L: 2 } }"
                                            " workers { num_workers: 2 } }")),
                       "");
    for (int64_t t = 0; t < 2; ++t) {
      Send(*s, 0, t, TickOutcome::kApplied);
      Send(*s, 1, t, TickOutcome::kApplied);
    }
    Send(*s, 1, 2, TickOutcome::kApplied);
    out.Write("entropy_sgd_paper_pair_waiting", SnapshotOf(scratch, *s));
  }
  {  // Created with initial values in the request, as the Python client sends a model that fits one
     // chunk: the fingerprint (the request's bytes) is larger than any other string.
    v1::CreateSessionRequest request = Request(
        "spec { tensors { name: 'fc.weight' shape: [40, 40] } optimizer { sgd {} } } request_id: 'with-values'");
    AddInitialValues(request, WireDType::kF32, 0);
    auto s = Persisted(store, "s-000000000001-0007", request, "");
    Send(*s, 0, 0, TickOutcome::kApplied);
    out.Write("initial_values_in_the_request", SnapshotOf(scratch, *s));
  }
  {  // As written when the session is created.
    auto s = Persisted(store, "s-000000000001-0008",
                       Request("spec { tensors { name: 'x' shape: 4 } optimizer { sam { adaptive: true } } }"), "");
    out.Write("sam_fresh", scratch.File(s->id(), "snapshot"));
  }

  // Damaged: refused by the reader, or by recovery.
  WriteFramingDamage(out, first, "BASNSNAQ");
  SessionImage image = *DecodeSnapshot(first);
  SessionImage wrong_size = image;
  wrong_size.workers = WorkerPolicy{3, WorkerPolicy::Mode::kSync, 2, 0};
  wrong_size.last_tick_of_worker = {{1, 5}};
  wrong_size.pending[1] = PendingContribution{{1, 2, 3}, 0.5, 1};
  out.Write("refused_recovery_waiting_gradient_size", EncodeSnapshot(wrong_size));
  SessionImage bad_policy = image;
  bad_policy.workers = WorkerPolicy{2, WorkerPolicy::Mode::kSync, 3, 0};
  out.Write("refused_recovery_quorum_over_workers", EncodeSnapshot(bad_policy));
  SessionImage bad_state = image;
  bad_state.state[20] ^= 1;
  out.Write("refused_recovery_state_checksum", EncodeSnapshot(bad_state));
}

void Logs(const fs::path& root) {
  CorpusWriter out(root, "wal_fuzz");
  ScratchStore scratch;
  SessionStore& store = scratch.store();
  std::string three;  // a log of three records, for the damaged seeds
  {  // EMCMC, f64, a quorum of 3 of 4, the model and anchor set between steps.
    auto s = Persisted(store, "s-000000000002-0001",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " state_dtype: DTYPE_F64 optimizer { emcmc { form: FORM_PAPER } }"
                                            " workers { num_workers: 4 quorum: 3 }"
                                            " durability { mode: MODE_EVERY_TICK } }")),
                       "");
    for (int w = 0; w < 3; ++w) Send(*s, w, 0, TickOutcome::kApplied, 1 + w);
    SetParameters(*s, /*anchor=*/false, 0.1);
    SetParameters(*s, /*anchor=*/true, 0.2);
    for (int w = 1; w < 4; ++w) Send(*s, w, 1, TickOutcome::kApplied, 8);
    Send(*s, 0, 2, TickOutcome::kApplied, 2);
    const std::vector<std::string> logs = scratch.Logs(s->id());
    out.Write("emcmc_f64_quorum_set_parameters", logs.back());
  }
  std::string entropy;
  {  // Entropy-SGD, f32, one worker; then its snapshot starts a log that holds only a header.
    auto s = Persisted(store, "s-000000000002-0002",
                       Request(absl::StrCat("spec { ", kTwoTensors, " optimizer { entropy_sgd { L: 2 } }",
                                            " durability { mode: MODE_EVERY_TICK } }")),
                       "");
    for (int64_t t = 0; t < 4; ++t) Send(*s, 0, t, TickOutcome::kApplied);
    entropy = scratch.Logs(s->id()).back();
    out.Write("entropy_sgd_f32", entropy);
    absl::Status snapshot = s->Snapshot();
    if (!snapshot.ok()) ScratchStore::Die(s->id(), snapshot);
    out.Write("header_only", scratch.Logs(s->id()).back());
    Send(*s, 0, 4, TickOutcome::kApplied);
    out.Write("after_a_snapshot", scratch.Logs(s->id()).back());
  }
  {  // Async: ticks computed at older ticks; a skipped NaN is not logged.
    auto s = Persisted(store, "s-000000000002-0003",
                       Request(absl::StrCat("spec { ", kTwoTensors,
                                            " optimizer { sgd {} } workers { num_workers: 2 mode: MODE_ASYNC"
                                            " max_staleness: 3 } durability { mode: MODE_EVERY_TICK }"
                                            " nonfinite_policy: NONFINITE_POLICY_SKIP }")),
                       "");
    Send(*s, 0, 0, TickOutcome::kApplied);
    Send(*s, 1, 0, TickOutcome::kApplied);
    Send(*s, 1, 2, TickOutcome::kSkipped, 1, /*nan=*/true);
    Send(*s, 0, 1, TickOutcome::kApplied);
    three = scratch.Logs(s->id()).back();
    out.Write("sgd_async", three);
  }
  // Torn tails: a write cut short in the last record, a last record failing its checksum, blocks
  // allocated but never written (zeros).
  const std::size_t last_record = [&] {
    auto contents = ParseWal(three);
    if (!contents.ok() || contents->records.size() != 3) ScratchStore::Die("the async log", contents.status());
    const WalRecord& r = contents->records.back();
    return three.size() - (EncodeWalRecordPrefix(r, r.values).size() + r.values.size());
  }();
  out.Write("torn_in_frame", three.substr(0, last_record + 3));
  out.Write("torn_in_payload", three.substr(0, last_record + 20));
  out.Write("torn_last_byte", three.substr(0, three.size() - 1));
  std::string bad_last = three;
  bad_last.back() = static_cast<char>(bad_last.back() ^ 1);
  out.Write("torn_checksum", bad_last);
  out.Write("zero_filled_tail", three + std::string(100, '\0'));
  out.Write("zero_filled_after_header", EncodeWalHeader("s-000000000002-0003", 1) + std::string(64, '\0'));

  // Damaged: refused.
  std::string damaged = three;
  damaged[last_record - 10] ^= 1;  // inside the second record, the third follows
  out.Write("refused_damaged_record", damaged);
  {
    auto contents = ParseWal(three);
    std::string spliced = EncodeWalHeader("s-000000000002-0003", contents->first_seq);
    for (std::size_t i : {0, 2}) {
      const WalRecord& r = contents->records[i];
      spliced += EncodeWalRecordPrefix(r, r.values) + r.values;
    }
    out.Write("refused_out_of_sequence", spliced);
  }
  std::string bad_header = three;
  bad_header[10] ^= 1;
  out.Write("refused_header_checksum", bad_header);
  out.Write("refused_magic", "BASNWAL2" + three.substr(8));
  out.Write("refused_empty", "");
}

}  // namespace
}  // namespace basin

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR  (e.g. tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root(argv[1]);
  basin::CreateSessionRequests(root);
  basin::TrainChunks(root);
  basin::States(root);
  basin::Checkpoints(root);
  basin::Snapshots(root);
  basin::Logs(root);
  return 0;
}
