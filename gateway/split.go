package gateway

import "math/rand/v2"

// Bucket maps a key to one of MaxBasisPoints buckets with a per-route salt.
// It is stable across processes and machines (FNV-1a 64 over salt, a zero
// byte and the key, then a 64-bit finaliser for an even spread), so a key
// lands in the same bucket on every gateway.
func Bucket(salt, key string) int {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(salt); i++ {
		h ^= uint64(salt[i])
		h *= prime
	}
	h ^= 0
	h *= prime
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	// splitmix64 finaliser
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return int(h % MaxBasisPoints)
}

// toCanary decides the split: a key goes to the canary iff its bucket is
// below the weight, so raising the weight only ever moves keys from stable
// to canary. Requests without a key are split at random.
func toCanary(salt, key string, weightBP int) bool {
	switch {
	case weightBP <= 0:
		return false
	case weightBP >= MaxBasisPoints:
		return true
	case key == "":
		return rand.IntN(MaxBasisPoints) < weightBP
	default:
		return Bucket(salt, key) < weightBP
	}
}
