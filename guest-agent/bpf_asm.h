#pragma once
// A small assembler for eBPF, enough for the agent's own programs: the agent loads them with
// the raw bpf(2) syscall because the guest has no clang and no libbpf. Each method emits one
// instruction (two for 64-bit immediates) with the constants of <linux/bpf.h>; jumps go to
// labels that are resolved when the program is finished.
#include <linux/bpf.h>

#include <cstdint>
#include <vector>

namespace fb::agent::bpf {

enum Reg : std::uint8_t { R0 = 0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };

class Assembler {
 public:
  using Label = std::size_t;

  Label new_label() {
    labels_.push_back(kUnbound);
    return labels_.size() - 1;
  }
  void bind(Label l) { labels_[l] = insns_.size(); }

  void mov(Reg dst, Reg src) { emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void mov(Reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void add(Reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
  void rsh(Reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
  void mod(Reg dst, std::int32_t imm) { emit(BPF_ALU64 | BPF_MOD | BPF_K, dst, 0, 0, imm); }
  void bit_or(Reg dst, Reg src) { emit(BPF_ALU64 | BPF_OR | BPF_X, dst, src, 0, 0); }

  // dst = imm64 (two instruction slots).
  void load_imm64(Reg dst, std::uint64_t imm) { emit_wide(dst, 0, imm); }
  // dst = the map whose fd is map_fd (the verifier swaps in the map's address).
  void load_map(Reg dst, int map_fd) { emit_wide(dst, BPF_PSEUDO_MAP_FD, static_cast<std::uint32_t>(map_fd)); }

  // *(u64 *)(dst + off) = src
  void store64(Reg dst, std::int16_t off, Reg src) { emit(BPF_STX | BPF_MEM | BPF_DW, dst, src, off, 0); }
  // *(u32 *)(dst + off) = imm
  void store32(Reg dst, std::int16_t off, std::int32_t imm) { emit(BPF_ST | BPF_MEM | BPF_W, dst, 0, off, imm); }
  // lock *(u64 *)(dst + off) += src
  void atomic_add64(Reg dst, std::int16_t off, Reg src) { emit(BPF_STX | BPF_ATOMIC | BPF_DW, dst, src, off, BPF_ADD); }

  // if (dst <op> imm) goto target; op is BPF_JEQ, BPF_JNE, BPF_JGE, ... (unsigned compares)
  void jump_if(std::uint8_t op, Reg dst, std::int32_t imm, Label target) {
    fixups_.push_back({insns_.size(), target});
    emit(BPF_JMP | op | BPF_K, dst, 0, 0, imm);
  }
  void call(bpf_func_id helper) { emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void exit() { emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

  // The program with every jump pointed at its label (an offset counted from the next slot).
  std::vector<bpf_insn> finish() const {
    std::vector<bpf_insn> out = insns_;
    for (auto& f : fixups_)
      out[f.at].off = static_cast<std::int16_t>(static_cast<long>(labels_[f.label]) - static_cast<long>(f.at) - 1);
    return out;
  }

 private:
  static constexpr std::size_t kUnbound = ~std::size_t{0};
  struct Fixup {
    std::size_t at;
    Label label;
  };

  void emit(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    insns_.push_back(i);
  }
  void emit_wide(Reg dst, std::uint8_t src, std::uint64_t imm) {
    emit(BPF_LD | BPF_IMM | BPF_DW, dst, src, 0, static_cast<std::int32_t>(imm & 0xffffffffu));
    emit(0, 0, 0, 0, static_cast<std::int32_t>(imm >> 32));
  }

  std::vector<bpf_insn> insns_;
  std::vector<std::size_t> labels_;
  std::vector<Fixup> fixups_;
};

}  // namespace fb::agent::bpf
