// slot_table.h
// Connections of one kind, by slot: a slot is an index that io_uring user_data carries (see
// user_data.h), so objects never move and a freed slot is reused before the table grows. The
// object decides what "in use" and its generation mean; the table only hands out slots.
//
//   SlotTable<Upstream> upstreams;
//   Upstream& u = upstreams.Acquire([&](uint32_t slot) { return std::make_unique<Upstream>(...,
//   slot); });
//   ...
//   upstreams.Release(u.slot());
#ifndef RINGGATE_CORE_SLOT_TABLE_H_
#define RINGGATE_CORE_SLOT_TABLE_H_

#include <cstdint>
#include <memory>
#include <vector>

namespace ringgate {

template <class T>
class SlotTable {
 public:
  // A free slot's object, or a new one made by `make(slot)`.
  template <class Make>
  T& Acquire(Make&& make) {
    if (!free_.empty()) {
      const uint32_t slot = free_.back();
      free_.pop_back();
      return *objects_[slot];
    }
    const auto slot = static_cast<uint32_t>(objects_.size());
    objects_.push_back(make(slot));
    return *objects_.back();
  }
  void Release(uint32_t slot) { free_.push_back(slot); }

  // The object in `slot`, in use or not; null past the end.
  T* At(uint32_t slot) const { return slot < objects_.size() ? objects_[slot].get() : nullptr; }
  size_t capacity() const { return objects_.size(); }
  size_t in_use() const { return objects_.size() - free_.size(); }

  template <class Visit>
  void ForEach(Visit&& visit) {
    for (auto& object : objects_) visit(*object);
  }
  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const auto& object : objects_) visit(*object);
  }
  void Clear() {
    objects_.clear();
    free_.clear();
  }

 private:
  std::vector<std::unique_ptr<T>> objects_;
  std::vector<uint32_t> free_;
};

}  // namespace ringgate

#endif  // RINGGATE_CORE_SLOT_TABLE_H_
