// check.h
// RINGGATE_CHECK: for what cannot happen unless ringgate itself is wrong (an operation count
// going negative, a state move the table forbids). It is on in every build type and aborts
// with the condition and its place: a broken invariant on the data path must crash loudly, not
// run on with corrupted state. Errors caused by traffic are never checked this way.
//
//   RINGGATE_CHECK(count_ > 0, "more completions than submissions");
#ifndef RINGGATE_CORE_CHECK_H_
#define RINGGATE_CORE_CHECK_H_

namespace ringgate {

[[noreturn]] void CheckFailed(const char* condition, const char* message, const char* file,
                              int line);

}  // namespace ringgate

#define RINGGATE_CHECK(condition, message)                              \
  do {                                                                  \
    if (!(condition)) [[unlikely]] {                                    \
      ::ringgate::CheckFailed(#condition, message, __FILE__, __LINE__); \
    }                                                                   \
  } while (0)

#endif  // RINGGATE_CORE_CHECK_H_
